//! `fitsbak upload`, for people.

use std::path::Path;

use fitsbak_core::engine::analyze::transfer_seconds;
use fitsbak_core::engine::upload::{SessionOutcome, SessionResult, UploadSummary};

use crate::output::{count, human_bytes, human_duration, table};

/// A dry run: what would be sent, and how long it takes at `bandwidth`.
pub fn print_plan(summary: &UploadSummary, bandwidth: f64) {
    let mut t = table(
        &["Session", "Plan", "Files", "Archive size", "Upload time"],
        &[2, 3, 4],
    );
    let mut total = 0;
    for s in &summary.sessions {
        let row = match &s.outcome {
            SessionOutcome::Planned { bytes, files } => {
                total += bytes;
                vec![
                    s.session_id.clone(),
                    "upload".into(),
                    count(*files),
                    human_bytes(*bytes),
                    human_duration(transfer_seconds(*bytes, bandwidth)),
                ]
            }
            SessionOutcome::Skipped { reason } => vec![
                s.session_id.clone(),
                format!("skip: {reason}"),
                String::new(),
                String::new(),
                String::new(),
            ],
            SessionOutcome::Failed { error } => vec![
                s.session_id.clone(),
                format!("FAIL: {error}"),
                String::new(),
                String::new(),
                String::new(),
            ],
            _ => continue,
        };
        t.add_row(row);
    }
    println!("{}", t.trim_fmt());
    let planned = summary.count(|o| matches!(o, SessionOutcome::Planned { .. }));
    println!(
        "Dry run: {planned} session(s) to upload, {}, about {} at {bandwidth} Mbit/s. Nothing was sent.",
        human_bytes(total),
        human_duration(transfer_seconds(total, bandwidth))
    );
    print_notes(summary, Detail::Normal);
}

/// The details of an uploaded session: parts, resume, files left out, check.
fn uploaded_details(parts: u64, resumed: u64, left_out: u64, verified: Option<bool>) -> String {
    [
        Some(format!("{parts} part(s)")),
        (resumed > 0).then(|| format!("resumed: {resumed} part(s) already sent")),
        (left_out > 0).then(|| format!("{left_out} missing file(s) left out")),
        match verified {
            Some(true) => Some("verified".to_owned()),
            Some(false) => Some("CHECK FAILED, see `fitsbak verify`".to_owned()),
            None => None,
        },
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ")
}

/// The row of one session: result, size, time, details.
fn summary_row(s: &SessionResult) -> Option<Vec<String>> {
    let (result, size, time, details) = match &s.outcome {
        SessionOutcome::Uploaded {
            bytes,
            seconds,
            parts,
            left_out,
            verified,
            resumed_parts,
        } => (
            "uploaded",
            human_bytes(*bytes),
            human_duration(*seconds),
            uploaded_details(*parts, *resumed_parts, *left_out, *verified),
        ),
        SessionOutcome::Adopted { bytes } => (
            "adopted",
            human_bytes(*bytes),
            String::new(),
            "already in the bucket with a matching manifest".into(),
        ),
        SessionOutcome::Skipped { reason } => {
            ("skipped", String::new(), String::new(), reason.clone())
        }
        SessionOutcome::Failed { error } => ("FAILED", String::new(), String::new(), error.clone()),
        SessionOutcome::Interrupted { reason } => {
            ("STOPPED", String::new(), String::new(), reason.clone())
        }
        SessionOutcome::Planned { .. } => return None,
    };
    Some(vec![
        s.session_id.clone(),
        result.into(),
        size,
        time,
        details,
    ])
}

/// How much of a run to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// `-q`: the failures (on stderr) and the one-line summary.
    Quiet,
    /// Sessions that did something, failures, the summary (sessions skipped as
    /// already backed up are counted, not listed).
    Normal,
    /// `-v`: every session.
    Verbose,
}

/// Whether a session's row is worth a line at this detail.
fn shown(s: &SessionResult, detail: Detail) -> bool {
    !matches!(
        (&s.outcome, detail),
        (_, Detail::Quiet) | (SessionOutcome::Skipped { .. }, Detail::Normal)
    )
}

/// A run: one row per session that did something, the failures on stderr, and
/// the totals.
pub fn print_summary(summary: &UploadSummary, keep_copy: Option<&Path>, detail: Detail) {
    let mut t = table(&["Session", "Result", "Size", "Time", "Details"], &[2, 3]);
    let mut rows = 0;
    for row in summary
        .sessions
        .iter()
        .filter(|s| shown(s, detail))
        .filter_map(summary_row)
    {
        t.add_row(row);
        rows += 1;
    }
    if rows > 0 {
        println!("{}", t.trim_fmt());
    }
    for s in &summary.sessions {
        match &s.outcome {
            SessionOutcome::Failed { error } => {
                crate::output::print_error(session_error(&s.session_id, error))
            }
            SessionOutcome::Interrupted { reason } if detail == Detail::Quiet => {
                crate::output::print_error(format!("session {} stopped: {reason}", s.session_id))
            }
            _ => {}
        }
    }
    println!("{}", totals(summary));
    if let Some(dir) = keep_copy {
        println!("Copies of the archives are in {}", dir.display());
    }
    print_notes(summary, detail);
}

/// `session ID: error`, unless the error names the session already.
fn session_error(id: &str, error: &str) -> String {
    let named = format!("session {id}");
    if error.starts_with(&named) {
        error.to_owned()
    } else {
        format!("{named}: {error}")
    }
}

/// The run's failures, one line each (sessions, then notes).
pub fn failures(summary: &UploadSummary) -> Vec<String> {
    let mut out: Vec<String> = summary
        .sessions
        .iter()
        .filter_map(|s| match &s.outcome {
            SessionOutcome::Failed { error } => Some(session_error(&s.session_id, error)),
            _ => None,
        })
        .collect();
    if let Some(why) = &summary.notes_error {
        out.push(format!("session notes not backed up: {why}"));
    }
    for n in summary.notes.iter().flat_map(|n| &n.notes) {
        if let fitsbak_core::engine::notes::NoteAction::Failed(why) = &n.action {
            out.push(format!("notes of {}: {why}", n.session_id));
        }
    }
    out
}

/// The one-line summary of a run.
pub fn totals(summary: &UploadSummary) -> String {
    let uploaded = summary.count(|o| matches!(o, SessionOutcome::Uploaded { .. }));
    format!(
        "{uploaded} uploaded, {} adopted, {} skipped, {} failed; {} sent in {} ({}/s){}{}",
        summary.count(|o| matches!(o, SessionOutcome::Adopted { .. })),
        summary.count(|o| matches!(o, SessionOutcome::Skipped { .. })),
        summary.failed(),
        human_bytes(summary.bytes_uploaded),
        human_duration(summary.seconds),
        human_bytes((summary.bytes_uploaded as f64 / summary.seconds.max(0.001)) as u64),
        if summary.bytes_resumed > 0 {
            format!(
                ", {} sent by an earlier run",
                human_bytes(summary.bytes_resumed)
            )
        } else {
            String::new()
        },
        if summary.retries > 0 {
            format!(", {} retries", summary.retries)
        } else {
            String::new()
        }
    )
}

/// The notes line of an upload run, and each note that failed.
pub fn print_notes(summary: &UploadSummary, detail: Detail) {
    if let Some(why) = &summary.notes_error {
        crate::output::print_error(format!("session notes not backed up: {why}"));
    }
    if let Some(notes) = &summary.notes {
        if detail != Detail::Quiet {
            println!("Notes: {}", notes.line());
        }
        for n in &notes.notes {
            if let fitsbak_core::engine::notes::NoteAction::Failed(why) = &n.action {
                crate::output::print_error(format!("notes of {}: {why}", n.session_id));
            }
        }
    }
}
