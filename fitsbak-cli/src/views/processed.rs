//! `fitsbak processed ...` and the categories of `status`, for people.

use fitsbak_core::engine::processed::{
    Category, ProcessedAction, ProcessedCheck, ProcessedStatus, ProcessedSummary, RestoredProcessed,
};
use fitsbak_core::processed::Part;

use crate::output::{count, human_bytes, table, usd};

/// The categories: on disk, backed up, not yet, class and yearly cost.
pub fn print_categories(categories: &[Category]) {
    let mut t = table(
        &[
            "Category",
            "On disk",
            "Bytes",
            "Backed up",
            "Bytes stored",
            "Not yet",
            "Class",
            "Per year",
        ],
        &[1, 2, 3, 4, 5, 7],
    );
    for c in categories {
        t.add_row(vec![
            c.name.clone(),
            count(c.local_count),
            c.local_bytes.map(human_bytes).unwrap_or_else(|| "-".into()),
            count(c.backed_up_count),
            human_bytes(c.backed_up_bytes),
            count(c.not_backed_up),
            c.storage_class.to_string(),
            usd(c.yearly_cost_usd),
        ]);
    }
    println!("{}", t.trim_fmt());
}

/// What `processed upload` did.
pub fn print_upload(summary: &ProcessedSummary, dry_run: bool) {
    let mut t = table(
        &["Processing session", "File", "Result", "Size", "Key"],
        &[3],
    );
    for o in summary.files.iter().chain(&summary.notes) {
        let what = match o.action {
            ProcessedAction::Uploaded => "uploaded".to_owned(),
            ProcessedAction::Unchanged => "unchanged".to_owned(),
            ProcessedAction::WouldUpload => "would upload".to_owned(),
            ProcessedAction::Failed => {
                format!("FAILED: {}", o.reason.clone().unwrap_or_default())
            }
        };
        let name = std::path::Path::new(&o.path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        t.add_row(vec![
            o.session_id.to_string(),
            match o.part {
                Part::File => name,
                Part::Companion => format!("{name} (companion)"),
            },
            what,
            human_bytes(o.bytes),
            o.key.clone().unwrap_or_default(),
        ]);
    }
    println!("{}", t.trim_fmt());
    for r in &summary.rejected {
        println!("not usable: {r}");
    }
    println!(
        "{} {}, {} unchanged, {} failed",
        if dry_run {
            summary.count(ProcessedAction::WouldUpload)
        } else {
            summary.count(ProcessedAction::Uploaded)
        },
        if dry_run { "would upload" } else { "uploaded" },
        summary.count(ProcessedAction::Unchanged),
        summary.failed()
    );
}

/// `processed status`.
pub fn print_status(status: &ProcessedStatus) {
    let mut t = table(
        &[
            "Processing session",
            "Name",
            "Files",
            "Bytes",
            "Backed up",
            "Verified",
            "Notes",
        ],
        &[2, 3, 4, 5],
    );
    for s in &status.sessions {
        t.add_row(vec![
            s.session_id.to_string(),
            s.name.clone(),
            count(s.files),
            human_bytes(s.bytes),
            count(s.backed_up),
            count(s.verified),
            match s.notes_backed_up {
                None => "none".into(),
                Some(true) => "backed up".into(),
                Some(false) => "not backed up".into(),
            },
        ]);
    }
    println!("{}", t.trim_fmt());
    println!();
    print_categories(&status.categories);
    for r in &status.rejected {
        println!("not usable: {r}");
    }
}

/// `processed verify`.
pub fn print_checks(checks: &[ProcessedCheck]) {
    let mut t = table(&["Processing session", "Key", "Result"], &[]);
    for c in checks {
        let result = if c.reasons.is_empty() {
            c.outcome.clone()
        } else {
            format!("{}: {}", c.outcome, c.reasons.join("; "))
        };
        t.add_row(vec![c.session_id.to_string(), c.key.clone(), result]);
    }
    println!("{}", t.trim_fmt());
    let n = |o: &str| checks.iter().filter(|c| c.outcome == o).count();
    println!(
        "{} passed, {} failed, {} need a restore first",
        n("passed"),
        n("failed"),
        n("needs_restore")
    );
}

/// `processed restore`.
pub fn print_restored(files: &[RestoredProcessed]) {
    let mut t = table(&["File", "Result", "Size"], &[2]);
    for f in files {
        t.add_row(vec![
            f.destination.display().to_string(),
            f.action.clone(),
            human_bytes(f.size),
        ]);
    }
    println!("{}", t.trim_fmt());
    println!("{} file(s) restored", files.len());
}
