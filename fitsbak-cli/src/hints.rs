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
        }
    }
}

/// The hint of the first core error in `err`'s chain, in the CLI's words.
pub fn of(err: &anyhow::Error) -> Option<String> {
    err.chain()
        .find_map(|e| e.downcast_ref::<fitsbak_core::Error>())
        .and_then(|e| e.hint())
        .map(|h| CliHints.text(h))
}
