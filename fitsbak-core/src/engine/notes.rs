//! Session notes: each session's markdown notes, written by the cataloger at
//! `{notes_dir}/Imaging_Sessions/{year}/{session_id}.md`, go to
//! `backups/sessions/{year}/{session_id}.md` (the cataloger's key) with the notes rule's tags and
//! are tracked in `s3_backup_session_notes`. A note is uploaded again only when its
//! content changed: the MD5 of its bytes is compared with the one recorded at the
//! last upload (an edit that keeps the content, or a touched mtime, uploads nothing).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Instant;

use futures::StreamExt;
use md5::{Digest, Md5};
use serde::Serialize;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::ids::{ObjectKey, SessionId};
use crate::model::Session;
use crate::progress::{ItemOutcome, RunPlan};
use crate::store::{ObjectStoreExt, PutOptions};
use crate::tags::ObjectKind;
use crate::tracker::{LogEntry, NoteRecord, Operation, OperationStatus};

/// Notes larger than this are refused: they are not notes.
pub const MAX_NOTE_BYTES: u64 = 64 << 20;

/// Where a session's note stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoteState {
    /// Never uploaded (to this bucket).
    New,
    /// Uploaded, and the content changed since.
    Changed,
    /// Uploaded with this content.
    UpToDate,
    /// Uploaded with this content under the older key `{session_id}_notes.md`:
    /// sent once to `{session_id}.md`, the old object then removed.
    Moved,
    /// The session has no note on disk.
    NoNote,
}

impl NoteState {
    /// As shown in tables.
    pub fn as_str(&self) -> &'static str {
        match self {
            NoteState::New => "new",
            NoteState::Changed => "changed",
            NoteState::UpToDate => "up to date",
            NoteState::Moved => "to move",
            NoteState::NoNote => "no note",
        }
    }
}

/// One session's note, on disk and in the tracking table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoteStatus {
    /// The session.
    pub session_id: SessionId,
    /// Its year.
    pub year: i32,
    /// Where its note is (or would be) on disk.
    pub path: PathBuf,
    /// Where it goes in the bucket.
    pub key: String,
    /// Where it stands.
    pub state: NoteState,
    /// Size on disk.
    pub size_bytes: u64,
    /// MD5 of the content on disk.
    pub md5: Option<String>,
    /// When it was last uploaded.
    pub uploaded_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The key the row names, when it is not the current layout's (removed after
    /// the note is sent to the current key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<String>,
}

/// What happened to one note.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "action", content = "detail")]
pub enum NoteAction {
    /// Uploaded.
    Uploaded,
    /// Would be uploaded (`--dry-run`).
    WouldUpload,
    /// Unchanged since its last upload.
    Unchanged,
    /// The session has no note.
    NoNote,
    /// Failed; the others went on.
    Failed(String),
}

/// One line of a notes run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoteOutcome {
    /// The session.
    pub session_id: SessionId,
    /// Where the note goes.
    pub key: String,
    /// Its size.
    pub size_bytes: u64,
    /// What happened.
    #[serde(flatten)]
    pub action: NoteAction,
}

/// A notes run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NotesSummary {
    /// Per session, in session order.
    pub notes: Vec<NoteOutcome>,
}

impl NotesSummary {
    /// Notes with this action.
    pub fn count(&self, f: impl Fn(&NoteAction) -> bool) -> usize {
        self.notes.iter().filter(|n| f(&n.action)).count()
    }

    /// Notes uploaded.
    pub fn uploaded(&self) -> usize {
        self.count(|a| *a == NoteAction::Uploaded)
    }

    /// Notes that failed.
    pub fn failed(&self) -> usize {
        self.count(|a| matches!(a, NoteAction::Failed(_)))
    }

    /// One line: `2 uploaded, 5 unchanged, 1 without notes, 0 failed`.
    pub fn line(&self) -> String {
        format!(
            "{} uploaded{}, {} unchanged, {} without notes, {} failed",
            self.uploaded(),
            match self.count(|a| *a == NoteAction::WouldUpload) {
                0 => String::new(),
                n => format!(" ({n} would be)"),
            },
            self.count(|a| *a == NoteAction::Unchanged),
            self.count(|a| *a == NoteAction::NoNote),
            self.failed()
        )
    }
}

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

impl Engine {
    /// The notes directory, or an error saying how to set it.
    pub fn notes_dir(&self) -> Result<PathBuf> {
        let dir = self
            .config
            .notes_dir()
            .ok_or_else(|| Error::NotConfigured {
                key: "notes_dir",
                message: "notes_dir is not set in the config: set it to the cataloger's notes \
                      directory (the one holding Imaging_Sessions/)"
                    .into(),
            })?;
        if !dir.is_dir() {
            return Err(Error::NotConfigured {
                key: "notes_dir",
                message: format!(
                    "notes directory {} (notes_dir in the config) does not exist",
                    dir.display()
                ),
            });
        }
        Ok(dir)
    }

    /// The catalog's sessions, or only `session`, or those of `year`; a session
    /// the catalog does not have is an error.
    pub async fn catalog_sessions(
        &self,
        session: Option<&SessionId>,
        year: Option<i32>,
    ) -> Result<Vec<Session>> {
        let sessions: Vec<Session> = self
            .catalog
            .sessions()
            .await?
            .sessions
            .into_iter()
            .filter(|s| session.is_none_or(|w| s.id == *w))
            .filter(|s| year.is_none_or(|y| s.year() == y))
            .collect();
        if let Some(id) = session
            && sessions.is_empty()
        {
            return Err(Error::NotInCatalog {
                session: id.clone(),
                catalog: self.catalog.describe(),
            });
        }
        Ok(sessions)
    }

    /// Where a session's note is on disk.
    pub fn note_path(dir: &std::path::Path, session: &Session) -> PathBuf {
        dir.join("Imaging_Sessions")
            .join(session.year().to_string())
            .join(format!("{}.md", session.id))
    }

    fn note_key(&self, session: &Session) -> Result<ObjectKey> {
        Ok(self
            .config
            .s3_paths
            .notes_key(session.year(), &session.id)?)
    }

    /// Reads a note: its bytes, or `None` when the session has none.
    pub(crate) fn read_note(path: &std::path::Path) -> Result<Option<Vec<u8>>> {
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path.to_path_buf(), e)),
        };
        if !meta.is_file() {
            return Err(Error::unusable(format!("{} is not a file", path.display())));
        }
        if meta.len() > MAX_NOTE_BYTES {
            return Err(Error::unusable(format!(
                "{} is {} bytes: larger than a note can be ({MAX_NOTE_BYTES})",
                path.display(),
                meta.len()
            )));
        }
        std::fs::read(path)
            .map(Some)
            .map_err(|e| Error::io(path.to_path_buf(), e))
    }

    /// The recorded notes of the store in use, by session.
    async fn recorded_notes(&self) -> Result<HashMap<SessionId, NoteRecord>> {
        let bucket = self.store.bucket();
        Ok(self
            .tracker
            .notes()
            .await?
            .into_iter()
            .filter(|n| n.bucket == bucket)
            .map(|n| (n.session_id.clone(), n))
            .collect())
    }

    /// Where each session's note stands, comparing the content on disk with the
    /// MD5 recorded at its last upload.
    pub async fn notes_status(&self, sessions: &[Session]) -> Result<Vec<NoteStatus>> {
        let dir = self.notes_dir()?;
        let recorded = self.recorded_notes().await?;
        let mut out = Vec::with_capacity(sessions.len());
        for session in sessions {
            let path = Self::note_path(&dir, session);
            let key = self.note_key(session)?.to_string();
            let row = recorded.get(&session.id);
            let content = Self::read_note(&path)?;
            let md5 = content.as_deref().map(md5_hex);
            let state = match (&md5, row) {
                (None, _) => NoteState::NoNote,
                (Some(_), None) => NoteState::New,
                (Some(now), Some(row)) if row.holds(now) && row.key != key => NoteState::Moved,
                (Some(now), Some(row)) if row.holds(now) => NoteState::UpToDate,
                (Some(_), Some(_)) => NoteState::Changed,
            };
            let moved_from = row.filter(|r| r.key != key).map(|r| r.key.clone());
            out.push(NoteStatus {
                moved_from,
                session_id: session.id.clone(),
                year: session.year(),
                path,
                key,
                state,
                size_bytes: content.map_or(0, |c| c.len() as u64),
                md5,
                uploaded_at: row.and_then(|r| r.uploaded_at),
            });
        }
        Ok(out)
    }

    /// Uploads the notes of `sessions` that are new or changed (all of them with
    /// `force`); `dry_run` says what would be uploaded and sends nothing. One
    /// failure does not stop the others.
    pub async fn upload_notes(
        &self,
        sessions: &[Session],
        force: bool,
        dry_run: bool,
    ) -> Result<NotesSummary> {
        let statuses = self.notes_status(sessions).await?;
        let to_send: Vec<&NoteStatus> = statuses
            .iter()
            .filter(|s| s.state != NoteState::NoNote && (force || s.state != NoteState::UpToDate))
            .collect();
        if !dry_run {
            self.progress.run_started(&RunPlan {
                operation: "notes",
                items: to_send.len() as u64,
                bytes: to_send.iter().map(|s| s.size_bytes).sum(),
            });
        }
        // `archive_concurrency` notes at once, the outcomes in session order.
        let actions: Vec<Result<NoteAction>> = futures::stream::iter(
            statuses
                .iter()
                .map(|status| self.note_action(status, force, dry_run)),
        )
        .buffered(self.config.archive_concurrency.max(1))
        .collect()
        .await;
        let mut summary = NotesSummary::default();
        for (status, action) in statuses.iter().zip(actions) {
            let action = match action {
                Ok(action) => action,
                Err(e) => {
                    if !dry_run {
                        self.progress.run_finished();
                    }
                    return Err(e);
                }
            };
            summary.notes.push(NoteOutcome {
                session_id: status.session_id.clone(),
                key: status.key.clone(),
                size_bytes: status.size_bytes,
                action,
            });
        }
        if !dry_run {
            self.progress.run_finished();
        }
        Ok(summary)
    }

    /// What to do with one session's note, done.
    async fn note_action(
        &self,
        status: &NoteStatus,
        force: bool,
        dry_run: bool,
    ) -> Result<NoteAction> {
        Ok(match status.state {
            NoteState::NoNote => NoteAction::NoNote,
            NoteState::UpToDate if !force => NoteAction::Unchanged,
            _ if dry_run => NoteAction::WouldUpload,
            NoteState::New if !force && self.adopt_note(status).await? => NoteAction::Unchanged,
            _ => {
                let item = format!("{} notes", status.session_id);
                self.progress.item_started(&item, status.size_bytes);
                let action = match self.upload_note(status).await {
                    Ok(()) => NoteAction::Uploaded,
                    Err(e) => NoteAction::Failed(e.to_string()),
                };
                self.progress.item_finished(
                    &item,
                    &match &action {
                        NoteAction::Failed(reason) => ItemOutcome::Failed {
                            reason: reason.clone(),
                        },
                        _ => ItemOutcome::Done {
                            bytes: status.size_bytes,
                        },
                    },
                );
                action
            }
        })
    }

    /// A note without a row whose object is already in the bucket with this
    /// content (the cataloger's tool put it there; its single-PUT ETag is the MD5):
    /// recorded as it is, not sent again.
    async fn adopt_note(&self, status: &NoteStatus) -> Result<bool> {
        let Some(md5) = &status.md5 else {
            return Ok(false);
        };
        let key = ObjectKey::new(status.key.clone())?;
        let Some(head) = self.store.head(&key).await? else {
            return Ok(false);
        };
        let etag = head.etag.trim_matches('"');
        let same = head.metadata.get("content-md5") == Some(md5) || etag.eq_ignore_ascii_case(md5);
        if !same || head.size != status.size_bytes {
            return Ok(false);
        }
        let record = NoteRecord {
            session_id: status.session_id.clone(),
            session_year: status.year,
            bucket: self.store.bucket(),
            key: key.to_string(),
            region: self.store.region(),
            etag: Some(etag.to_owned()),
            uploaded_at: head.last_modified,
            size_bytes: head.size,
            content_md5: Some(md5.clone()),
            archive_policy: None,
            backup_policy: None,
            storage_class: Some(head.storage_class.clone()),
        };
        let log = LogEntry {
            session_id: Some(status.session_id.clone()),
            bucket: Some(record.bucket.clone()),
            key: Some(record.key.clone()),
            notes: Some("notes found in the bucket with this content: adopted".into()),
            ..LogEntry::new(Operation::NotesUpload, OperationStatus::Success)
        };
        self.tracker.record_note(&record, &log).await?;
        Ok(true)
    }

    /// Removes a note's object under its older key once the new one is recorded;
    /// a failure leaves a stray copy, which is only said.
    async fn remove_old_note(&self, old: &str) {
        let removed = match ObjectKey::new(old.to_owned()) {
            Ok(key) => self.store.delete(&key).await,
            Err(e) => Err(e.into()),
        };
        if let Err(e) = removed {
            tracing::warn!("the note's older copy {old} was left in the bucket: {e}");
        }
    }

    /// The rule of a kind of notes, and how one note of it is written: the rule's
    /// tags and class, markdown, its session and content MD5 in the metadata.
    pub(crate) fn note_options(
        &self,
        kind: ObjectKind,
        (id_key, session): (&str, &SessionId),
        md5: &str,
    ) -> (crate::config::BackupRule, PutOptions) {
        let rule = self.config.rule_for(kind).cloned().unwrap_or_default();
        let mut metadata = BTreeMap::new();
        metadata.insert(id_key.to_owned(), session.to_string());
        metadata.insert("content-md5".to_owned(), md5.to_owned());
        metadata.insert("tool-version".to_owned(), crate::tool_version());
        let options = PutOptions {
            tags: self.config.tags_for(kind),
            metadata,
            storage_class: rule.storage_class.clone(),
            content_type: Some("text/markdown; charset=utf-8".into()),
            encryption: self.encryption(),
            if_none_match: false,
        };
        (rule, options)
    }

    /// Uploads one note and records it; a failure is logged.
    async fn upload_note(&self, status: &NoteStatus) -> Result<()> {
        let started = Instant::now();
        let key = ObjectKey::new(status.key.clone())?;
        let result: Result<NoteRecord> = async {
            // Read again: what is sent and what is recorded are the same bytes.
            let content = Self::read_note(&status.path)?
                .ok_or_else(|| Error::unusable(format!("{} disappeared", status.path.display())))?;
            let md5 = md5_hex(&content);
            let (rule, options) = self.note_options(
                ObjectKind::SessionNotes,
                ("session-id", &status.session_id),
                &md5,
            );
            let size = content.len() as u64;
            let put = self.put_bytes(&key, content.into(), &options).await?;
            Ok(NoteRecord {
                session_id: status.session_id.clone(),
                session_year: status.year,
                bucket: self.store.bucket(),
                key: key.to_string(),
                region: self.store.region(),
                etag: Some(put.etag),
                uploaded_at: Some(crate::time::now()),
                size_bytes: size,
                content_md5: Some(md5),
                archive_policy: Some(rule.archive_policy.trim().to_owned()),
                backup_policy: Some(rule.backup_policy.trim().to_owned()),
                storage_class: Some(rule.storage_class),
            })
        }
        .await;
        let seconds = started.elapsed().as_secs_f64();
        match result {
            Ok(record) => {
                let log = LogEntry {
                    session_id: Some(status.session_id.clone()),
                    bucket: Some(record.bucket.clone()),
                    key: Some(record.key.clone()),
                    duration_seconds: Some(seconds),
                    bytes_transferred: Some(record.size_bytes),
                    ..LogEntry::new(Operation::NotesUpload, OperationStatus::Success)
                };
                self.tracker.record_note(&record, &log).await?;
                if let Some(old) = status.moved_from.as_deref() {
                    self.remove_old_note(old).await;
                }
                Ok(())
            }
            Err(e) => {
                let log = LogEntry {
                    session_id: Some(status.session_id.clone()),
                    bucket: Some(self.store.bucket()),
                    key: Some(key.to_string()),
                    duration_seconds: Some(seconds),
                    error_message: Some(e.to_string()),
                    ..LogEntry::new(Operation::NotesUpload, OperationStatus::Failed)
                };
                if let Err(log_err) = self.tracker.log(&log).await {
                    tracing::warn!("could not log the failed notes upload: {log_err}");
                }
                Err(e)
            }
        }
    }
}
