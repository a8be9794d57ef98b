//! The local check: re-hash the source files on disk against the manifest, to
//! catch bit rot or edits before the bucket holds the only good copy.

use super::{CheckReport, hash_file};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::tracker::{ArchiveRecord, CheckMethod, CheckOutcome};

impl Engine {
    /// The local check: re-hash the source files against the manifest.
    pub async fn local_check(&self, record: &ArchiveRecord) -> Result<CheckReport> {
        let report = |outcome| CheckReport {
            session_id: record.session_id.clone(),
            key: record.key.clone(),
            method: CheckMethod::Local,
            outcome,
            storage_class: None,
            notes: Vec::new(),
        };
        let manifest = match self.manifest_of(record).await {
            Ok(m) => m,
            Err(e) => return Ok(report(CheckOutcome::Failed(vec![e.to_string()]))),
        };
        let problems = tokio::task::spawn_blocking(move || {
            let mut problems = Vec::new();
            for m in &manifest.members {
                match hash_file(std::path::Path::new(&m.source_path)) {
                    Err(e) => {
                        problems.push(format!("source file {} cannot be read: {e}", m.source_path))
                    }
                    Ok((size, _)) if size != m.size => problems.push(format!(
                        "source file {} has {size} bytes, {} were archived",
                        m.source_path, m.size
                    )),
                    Ok((_, md5)) if md5 != m.md5 => problems.push(format!(
                        "source file {} changed since it was archived: MD5 {md5}, archived {}",
                        m.source_path, m.md5
                    )),
                    Ok(_) => {}
                }
            }
            problems
        })
        .await
        .map_err(|e| Error::task("the local check", e))?;
        Ok(report(if problems.is_empty() {
            CheckOutcome::Passed
        } else {
            CheckOutcome::Failed(problems)
        }))
    }
}
