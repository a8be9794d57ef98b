//! The local check: re-hash the source files on disk against the manifest, to
//! catch bit rot or edits before the bucket holds the only good copy.

use super::{CheckReport, hash_file};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::tracker::{ArchiveRecord, CheckMethod, CheckOutcome};

/// The size and MD5 of a file, which must be a regular file (following links):
/// a FIFO or a device would block or never end, and is not what was archived.
fn regular_file_hash(path: &std::path::Path) -> std::io::Result<(u64, String)> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    hash_file(path)
}

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
            repairable: false,
        };
        let manifest = match self.trusted_manifest(record).await {
            Ok((m, _)) => m,
            Err(e) => return Ok(report(CheckOutcome::Failed(vec![e.to_string()]))),
        };
        let problems = tokio::task::spawn_blocking(move || {
            let mut problems = Vec::new();
            for m in &manifest.members {
                match regular_file_hash(std::path::Path::new(&m.source_path)) {
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
