//! The main job: choose the sessions to back up, then for each one plan its archive,
//! stream it into the store, check what the store holds against what was sent,
//! write its manifest and record it, all in one SQLite transaction.
//!
//! One failed session does not stop the others. Anything that fails before the
//! archive is recorded aborts its multipart upload and leaves a failed log row,
//! never an archive row.
//!
//! `select` chooses the sessions and plans their archives (`plan`); `session`
//! sends and records one of them.

pub(crate) mod plan;
mod select;
mod session;

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use crate::engine::Engine;
use crate::error::{Error, Hint, Result};
use crate::ids::SessionId;
use crate::model::Session;
use crate::progress::{ItemOutcome, RunPlan};

pub use plan::member_sources;
use select::{Selected, Work};
pub(crate) use session::Uploaded;

/// Why a session with a good archive is skipped.
const ALREADY_BACKED_UP: &str = "already backed up";

/// What `upload` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct UploadOptions {
    /// Only this session.
    pub session_id: Option<SessionId>,
    /// Only sessions of this year.
    pub year: Option<i32>,
    /// At most this many sessions that need an upload.
    pub limit: Option<usize>,
    /// Upload sessions that already have an archive again.
    pub no_skip_existing: bool,
    /// Keep a copy of each archive in this directory.
    pub keep_copy: Option<PathBuf>,
    /// Leave files that are missing on disk out (recorded in the manifest and the
    /// row's notes) instead of failing the session.
    pub allow_missing: bool,
    /// Only plan: nothing is sent or recorded.
    pub dry_run: bool,
}

/// How one session ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SessionOutcome {
    /// Uploaded and recorded.
    Uploaded {
        /// Archive bytes sent.
        bytes: u64,
        /// Seconds it took.
        seconds: f64,
        /// Parts (1 for a single PUT).
        parts: u64,
        /// Files left out (`--allow-missing`).
        left_out: u64,
        /// Whether the check after upload passed (`None` when not run).
        verified: Option<bool>,
        /// Parts an interrupted run had already sent (not sent again).
        resumed_parts: u64,
    },
    /// Already in the bucket with a manifest that matches the catalog: recorded
    /// without uploading.
    Adopted {
        /// Archive bytes.
        bytes: u64,
    },
    /// Planned (dry run).
    Planned {
        /// Archive bytes to send.
        bytes: u64,
        /// Files in the archive.
        files: u64,
    },
    /// Nothing to do.
    Skipped {
        /// Why.
        reason: String,
    },
    /// Failed; nothing was recorded as backed up.
    Failed {
        /// Why, naming the file or key, with what can be done about it.
        error: String,
    },
    /// Stopped by Ctrl-C; the next run resumes it.
    Interrupted {
        /// What was kept.
        reason: String,
    },
}

/// One session of the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionResult {
    /// The session (as the catalog has it, even when it is not a valid id).
    pub session_id: String,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: SessionOutcome,
}

impl SessionResult {
    fn new(id: impl Into<String>, outcome: SessionOutcome) -> Self {
        Self {
            session_id: id.into(),
            outcome,
        }
    }
}

/// The whole run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UploadSummary {
    /// One entry per session considered.
    pub sessions: Vec<SessionResult>,
    /// Archive bytes the store acknowledged in this run (also of sessions that were
    /// stopped before their end).
    pub bytes_uploaded: u64,
    /// Bytes of parts an earlier run had sent, found again by resuming: not sent now.
    pub bytes_resumed: u64,
    /// Wall time.
    pub seconds: f64,
    /// Retries made.
    pub retries: u64,
    /// The notes of the sessions backed up (`None` when `notes_dir` is not set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<crate::engine::notes::NotesSummary>,
    /// Why the notes could not be backed up, when they could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes_error: Option<String>,
}

impl UploadSummary {
    /// Whether the run was stopped by Ctrl-C.
    pub fn interrupted(&self) -> bool {
        self.count(|o| matches!(o, SessionOutcome::Interrupted { .. })) > 0
    }

    /// Sessions that failed.
    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, SessionOutcome::Failed { .. }))
    }

    /// Sessions uploaded or adopted.
    pub fn done(&self) -> usize {
        self.count(|o| {
            matches!(
                o,
                SessionOutcome::Uploaded { .. } | SessionOutcome::Adopted { .. }
            )
        })
    }

    /// Sessions matching `f`.
    pub fn count(&self, f: impl Fn(&SessionOutcome) -> bool) -> usize {
        self.sessions.iter().filter(|s| f(&s.outcome)).count()
    }
}

/// What the progress display makes of a session's outcome.
fn item_outcome(outcome: &SessionOutcome) -> ItemOutcome {
    match outcome {
        SessionOutcome::Uploaded { bytes, .. } | SessionOutcome::Adopted { bytes } => {
            ItemOutcome::Done { bytes: *bytes }
        }
        SessionOutcome::Skipped { reason } => ItemOutcome::Skipped {
            reason: reason.clone(),
        },
        SessionOutcome::Failed { error: reason } | SessionOutcome::Interrupted { reason } => {
            ItemOutcome::Failed {
                reason: reason.clone(),
            }
        }
        SessionOutcome::Planned { .. } => ItemOutcome::Done { bytes: 0 },
    }
}

impl Engine {
    /// Backs up the sessions `options` selects.
    pub async fn upload(&self, options: &UploadOptions) -> Result<UploadSummary> {
        let started = Instant::now();
        if !self.config.enabled && !options.dry_run {
            return Err(Error::NotConfigured {
                key: "enabled",
                message: "uploads are turned off in the config (`enabled: false`)".into(),
            });
        }
        let retries_before = self.retries();
        let (selected, mut results) = self.select(options).await?;
        if options.dry_run {
            results.extend(selected.iter().map(Selected::planned));
            let mut summary = UploadSummary {
                sessions: results,
                seconds: started.elapsed().as_secs_f64(),
                ..UploadSummary::default()
            };
            self.back_up_notes(&mut summary, true).await?;
            return Ok(summary);
        }
        let (sent_before, resumed_before) = self.transferred.now();
        self.upload_selected(selected, options, &mut results)
            .await?;
        let (sent, resumed) = self.transferred.now();
        let bytes_uploaded = sent - sent_before;
        let mut summary = UploadSummary {
            sessions: results,
            bytes_uploaded,
            bytes_resumed: resumed - resumed_before,
            seconds: started.elapsed().as_secs_f64(),
            retries: self.retries() - retries_before,
            ..UploadSummary::default()
        };
        if !summary.interrupted() {
            self.back_up_notes(&mut summary, false).await?;
        }
        self.record_run_stats(summary.done() as u64, bytes_uploaded, 0)
            .await?;
        Ok(summary)
    }

    /// Uploads (or adopts) each selected session in turn (what was sent is counted
    /// in `transferred`). Stops at Ctrl-C, and at an error no session can get past.
    async fn upload_selected(
        &self,
        selected: Vec<Selected>,
        options: &UploadOptions,
        results: &mut Vec<SessionResult>,
    ) -> Result<()> {
        // Sessions that failed before any byte was read (files missing on disk)
        // are items of the run too: progress shows them with the others.
        let failed_early: Vec<&SessionResult> = results
            .iter()
            .filter(|r| matches!(r.outcome, SessionOutcome::Failed { .. }))
            .collect();
        self.progress.run_started(&RunPlan {
            operation: "upload",
            items: (selected.len() + failed_early.len()) as u64,
            bytes: selected.iter().map(Selected::bytes).sum(),
        });
        for r in failed_early {
            self.progress
                .item_finished(r.session_id.as_str(), &item_outcome(&r.outcome));
        }
        for s in selected {
            let id = s.session.id.to_string();
            if self.cancel.stop.is_cancelled() {
                // Stopped between sessions: the next one is never opened.
                results.push(SessionResult::new(
                    id,
                    SessionOutcome::Interrupted {
                        reason: "not started: the run was stopped before it".into(),
                    },
                ));
                break;
            }
            self.progress.item_started(&id, s.bytes());
            let outcome = match s.work {
                Work::Upload(planned) => self.upload_session(&s.session, *planned, options).await,
                Work::Adopt(key) => self.adopt(&s.session, &key).await,
            };
            let outcome = match outcome {
                Ok(outcome) => outcome,
                Err(err) if matches!(err.innermost(), Error::Interrupted) => {
                    SessionOutcome::Interrupted {
                        reason: self.interruption(),
                    }
                }
                Err(err) if super::stops_the_run(&err) => {
                    self.progress.item_finished(
                        &id,
                        &ItemOutcome::Failed {
                            reason: err.innermost().to_string(),
                        },
                    );
                    self.progress.run_finished();
                    return Err(err);
                }
                Err(err) => SessionOutcome::Failed {
                    error: self.describe(err.innermost()),
                },
            };
            self.progress.item_finished(&id, &item_outcome(&outcome));
            let stop = matches!(outcome, SessionOutcome::Interrupted { .. });
            results.push(SessionResult::new(id, outcome));
            if stop {
                break;
            }
        }
        self.progress.run_finished();
        Ok(())
    }

    /// What a session stopped by Ctrl-C keeps.
    fn interruption(&self) -> String {
        if self.cancel.abort.is_cancelled() {
            "aborted: its multipart upload was aborted".to_owned()
        } else {
            format!(
                "interrupted: the parts sent are kept; {}",
                self.hints.text(&Hint::ResumeUpload)
            )
        }
    }

    /// Backs up the notes of the sessions the run backed up, now or before (those
    /// uploaded, adopted, planned or already backed up), when `notes_dir` is set.
    async fn back_up_notes(&self, summary: &mut UploadSummary, dry_run: bool) -> Result<()> {
        if self.config.notes_dir.is_none() {
            return Ok(());
        }
        let backed_up: HashSet<&str> = summary
            .sessions
            .iter()
            .filter(|r| match &r.outcome {
                SessionOutcome::Uploaded { .. }
                | SessionOutcome::Adopted { .. }
                | SessionOutcome::Planned { .. } => true,
                SessionOutcome::Skipped { reason } => reason == ALREADY_BACKED_UP,
                _ => false,
            })
            .map(|r| r.session_id.as_str())
            .collect();
        let sessions: Vec<Session> = self
            .catalog_sessions(None, None)
            .await?
            .into_iter()
            .filter(|s| backed_up.contains(s.id.as_str()))
            .collect();
        match self.upload_notes(&sessions, false, dry_run).await {
            Ok(notes) => summary.notes = Some(notes),
            // A run whose archives went up does not fail for want of notes: it says so.
            Err(e @ Error::NotConfigured { .. }) => summary.notes_error = Some(e.to_string()),
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
