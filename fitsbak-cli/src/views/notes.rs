//! `fitsbak notes status | upload`, for people.

use fitsbak_core::engine::notes::{NoteAction, NoteState, NoteStatus, NotesSummary};

use crate::output::{human_bytes, table};

/// Prints where each session's note stands.
pub fn print_status(statuses: &[NoteStatus], notes_dir: &std::path::Path) {
    let mut t = table(&["Session", "Note", "Size", "Uploaded", "Key"], &[2]);
    for s in statuses {
        t.add_row(vec![
            s.session_id.to_string(),
            s.state.as_str().to_owned(),
            if s.state == NoteState::NoNote {
                String::new()
            } else {
                human_bytes(s.size_bytes)
            },
            s.uploaded_at
                .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default(),
            s.key.clone(),
        ]);
    }
    println!("{}", t.trim_fmt());
    let n = |state| statuses.iter().filter(|s| s.state == state).count();
    println!(
        "{} new, {} changed, {} up to date, {} to move to the current key, {} without notes (notes in {})",
        n(NoteState::New),
        n(NoteState::Changed),
        n(NoteState::UpToDate),
        n(NoteState::Moved),
        n(NoteState::NoNote),
        notes_dir.display()
    );
}

/// Prints what an upload of notes did.
pub fn print_upload(summary: &NotesSummary, dry_run: bool) {
    let mut t = table(&["Session", "Result", "Size", "Key"], &[2]);
    for n in &summary.notes {
        let result = match &n.action {
            NoteAction::Uploaded => "uploaded".to_owned(),
            NoteAction::WouldUpload => "would upload".to_owned(),
            NoteAction::Unchanged => "unchanged".to_owned(),
            NoteAction::NoNote => continue,
            NoteAction::Failed(why) => format!("FAILED: {why}"),
        };
        t.add_row(vec![
            n.session_id.to_string(),
            result,
            human_bytes(n.size_bytes),
            n.key.clone(),
        ]);
    }
    if !t.is_empty() {
        println!("{}", t.trim_fmt());
    }
    println!(
        "Notes: {}{}",
        summary.line(),
        if dry_run {
            ". Dry run: nothing was sent."
        } else {
            ""
        }
    );
}
