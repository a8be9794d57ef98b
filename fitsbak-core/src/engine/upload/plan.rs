//! A session's archive before a byte is read: its members (the catalogued files,
//! stat'ed), their layout and exact size, and how the object is written.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::archive::{ArchivePlan, MemberSource};
use crate::engine::Engine;
use crate::error::{Error, Hint, Result};
use crate::ids::SessionId;
use crate::manifest::ExcludedFile;
use crate::model::{CatalogFile, Fingerprint, Session};
use crate::store::PutOptions;
use crate::tags::ObjectKind;

/// A session's archive, planned.
pub(crate) struct Planned {
    pub plan: Arc<ArchivePlan>,
    pub excluded: Vec<ExcludedFile>,
    /// The catalog's rows of the session, as planned.
    pub fingerprint: Fingerprint,
}

/// The fingerprint of a session's catalog rows.
pub(crate) fn fingerprint_of(files: &[CatalogFile]) -> Fingerprint {
    Fingerprint::of(
        files
            .iter()
            .map(|f| (f.folder.as_str(), f.file.as_str(), f.md5sum.as_deref())),
    )
}

/// The files of a session as archive members, and those left out. Missing files
/// fail the session unless `allow_missing`. Blocking: one `stat` per file.
pub fn member_sources(
    session: &SessionId,
    files: Vec<CatalogFile>,
    allow_missing: bool,
) -> Result<(Vec<MemberSource>, Vec<ExcludedFile>)> {
    let mut sources = Vec::with_capacity(files.len());
    let mut missing = Vec::new();
    for file in files {
        match std::fs::metadata(&file.path) {
            Ok(meta) if meta.is_file() => sources.push(MemberSource {
                size: meta.len(),
                mtime: crate::time::mtime_seconds(&meta),
                catalog: file,
            }),
            Ok(_) => missing.push((file, "not a regular file")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                missing.push((file, "missing on disk"))
            }
            Err(e) => return Err(Error::io(file.path.clone(), e).for_session(session)),
        }
    }
    if !missing.is_empty() && (!allow_missing || sources.is_empty()) {
        let shown: Vec<String> = missing
            .iter()
            .take(10)
            .map(|(f, why)| format!("{} ({why})", f.path.display()))
            .collect();
        let total = missing.len() + sources.len();
        let error = Error::MissingFiles {
            more: missing.len() - shown.len(),
            shown,
            total,
            hint: (!allow_missing).then_some(Hint::AllowMissing),
        };
        let error = if allow_missing {
            Error::unusable(format!("{error}; no file of the session is on disk"))
        } else {
            error
        };
        return Err(error.for_session(session));
    }
    let excluded = missing
        .into_iter()
        .map(|(f, why)| ExcludedFile {
            file: f.file,
            folder: f.folder,
            reason: format!("{why} (left out: missing files allowed)"),
        })
        .collect();
    Ok((sources, excluded))
}

/// The member snapshot an upload in flight is resumed against: paths, sizes and
/// mtimes, in archive order.
pub(crate) fn snapshot_of(plan: &ArchivePlan) -> String {
    serde_json::to_string(
        &plan
            .members
            .iter()
            .map(|m| (m.path.as_str(), m.source.size, m.source.mtime))
            .collect::<Vec<_>>(),
    )
    .expect("a snapshot serialises")
}

impl Engine {
    /// Plans a session's archive (its files stat'ed on a blocking thread) and checks
    /// it against the size limit.
    pub(super) async fn plan_session(
        &self,
        session: &Session,
        files: Vec<CatalogFile>,
        allow_missing: bool,
    ) -> Result<Planned> {
        if files.is_empty() {
            return Err(Error::unusable("no files in the catalog"));
        }
        let fingerprint = fingerprint_of(&files);
        let (id, archiver) = (session.id.clone(), self.archiver.clone());
        let (plan, excluded) = Engine::blocking("planning the archive", move || {
            let (sources, excluded) = member_sources(&id, files, allow_missing)?;
            Ok((archiver.plan(&id, sources)?, excluded))
        })
        .await?;
        let limit_gb = self.config.archive_settings.max_archive_size_gb;
        if plan.total_size as f64 > limit_gb * (1u64 << 30) as f64 {
            return Err(Error::SizeMismatch {
                what: format!("session {}", session.id),
                message: format!(
                    "the archive would be {} bytes, over archive_settings.max_archive_size_gb ({limit_gb} GiB)",
                    plan.total_size
                ),
            });
        }
        Ok(Planned {
            plan: Arc::new(plan),
            excluded,
            fingerprint,
        })
    }

    /// How archives are written: tags, metadata, class, encryption.
    pub(super) fn archive_options(&self, session: &Session, plan: &ArchivePlan) -> PutOptions {
        let mut metadata = BTreeMap::new();
        metadata.insert("session-id".into(), session.id.to_string());
        metadata.insert("year".into(), session.year().to_string());
        metadata.insert("file-count".into(), plan.members.len().to_string());
        metadata.insert("original-size".into(), plan.data_bytes().to_string());
        metadata.insert("tool-version".into(), crate::tool_version());
        PutOptions {
            tags: self.config.tags_for(ObjectKind::RawArchive),
            metadata,
            storage_class: self.config.backup_rules.raw_lights.storage_class.clone(),
            content_type: Some("application/x-tar".into()),
            encryption: self.encryption(),
            if_none_match: false,
        }
    }
}
