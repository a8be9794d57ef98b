//! Hints in the CLI's words: the flags and commands that do what the library says
//! can be done.

use fitsbak_core::error::{Hint, HintText};

/// The `fitsbak` command line's flags and commands.
#[derive(Debug, Clone, Copy, Default)]
pub struct CliHints;

impl HintText for CliHints {
    fn text(&self, hint: &Hint) -> String {
        match hint {
            Hint::AllowMissing => "pass --allow-missing to back up the others".into(),
            Hint::UploadAgain => "--no-skip-existing uploads it again".into(),
            Hint::Overwrite => "pass --overwrite to replace it".into(),
            Hint::SyncDb => "after losing the database, run `fitsbak sync-db` first".into(),
            Hint::RestoreRequest { session } => {
                format!("run `fitsbak restore request --session-id {session}`")
            }
            Hint::RestoreStatus { session } => {
                format!("`fitsbak restore status --session-id {session}` tells when it is ready")
            }
            Hint::RestoreSnapshotVersion { version_id } => {
                format!("run `fitsbak restore-db --request-restore --version-id {version_id}`")
            }
            Hint::RestoreSnapshotKey { key } => {
                format!("run `fitsbak restore-db --request-restore --key {key}`")
            }
            Hint::ListSnapshots => "`fitsbak list-db-backups` lists them".into(),
            Hint::SlowerTier => "use --tier Standard (within 12 h) or Bulk (within 48 h)".into(),
            Hint::ResumeUpload => "the next `fitsbak upload` resumes it".into(),
            Hint::ApplyLifecycle => "fitsbak lifecycle apply".into(),
            Hint::AbortStale => {
                "fitsbak doctor --abort-stale (`fitsbak upload` resumes the session archives it \
                 started; `fitsbak backup-db` aborts the snapshot uploads a stopped run left)"
                    .into()
            }
            Hint::InitConfig => "write one with `fitsbak init-config`".into(),
            Hint::ForceInitConfig => "pass --force to overwrite it".into(),
            Hint::NameDatabase => "set `database_path` in the config or pass --database".into(),
        }
    }
}

/// The hint of the first error in `err`'s chain that has one, in the CLI's words.
pub fn of(err: &anyhow::Error) -> Option<String> {
    let hint = err.chain().find_map(|e| {
        if let Some(e) = e.downcast_ref::<fitsbak_core::Error>() {
            e.hint()
        } else if let Some(e) = e.downcast_ref::<fitsbak_core::config::ConfigError>() {
            e.hint()
        } else if let Some(fitsbak_store::DbError::NotFound { .. }) = e.downcast_ref() {
            Some(Hint::NameDatabase)
        } else {
            None
        }
    })?;
    Some(CliHints.text(&hint))
}
