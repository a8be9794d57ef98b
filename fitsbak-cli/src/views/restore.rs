//! `fitsbak restore request | status | download` and `fitsbak sync-db`, for people.

use std::path::Path;

use fitsbak_core::archive::{ExtractAction, ExtractedFile};
use fitsbak_core::engine::restore::{RestorePlan, RestoreRow};
use fitsbak_core::engine::sync_db::SyncReport;
use fitsbak_core::store::RestoreTier;

use crate::output::{human_bytes, table};

/// What needs a restore, and the cost and wait of each tier.
pub fn print_plan(plan: &RestorePlan, tier: RestoreTier) {
    for (id, why) in &plan.not_needed {
        println!("{id}: no restore needed ({why})");
    }
    if plan.archives.is_empty() {
        println!("Nothing to restore.");
        return;
    }
    println!(
        "{} archive(s), {} to restore; downloading them afterwards costs about ${:.2}.",
        plan.archives.len(),
        human_bytes(plan.bytes),
        plan.download_cost_usd
    );
    let mut t = table(&["Tier", "Cost", "Wait"], &[1]);
    for e in &plan.tiers {
        let marker = if e.tier == tier { " (chosen)" } else { "" };
        t.add_row(vec![
            format!("{}{marker}", e.tier),
            format!("${:.2}", e.cost_usd),
            e.wait.clone(),
        ]);
    }
    println!("{}", t.trim_fmt());
}

/// The restores requested.
pub fn print_requested(rows: &[RestoreRow], tier: RestoreTier, wait: &str) {
    for r in rows {
        println!(
            "{}: restore requested ({tier}, {wait}), {}",
            r.session_id, r.status
        );
    }
    println!("Follow it with `fitsbak restore status`.");
}

/// Where each requested restore stands.
pub fn print_status(rows: &[RestoreRow]) {
    if rows.is_empty() {
        println!("No restore has been requested.");
        return;
    }
    let mut t = table(
        &["Session", "Status", "Available until", "Storage class"],
        &[],
    );
    for r in rows {
        t.add_row(vec![
            r.session_id.to_string(),
            r.status.to_string(),
            r.expires_at.map(|e| e.to_string()).unwrap_or_default(),
            r.storage_class
                .as_ref()
                .map(|c| c.to_string())
                .unwrap_or_default(),
        ]);
    }
    println!("{}", t.trim_fmt());
}

/// The files a download wrote, and those already there.
pub fn print_downloaded(files: &[ExtractedFile], to: &Path) {
    let written: Vec<_> = files
        .iter()
        .filter(|f| f.action == ExtractAction::Written)
        .collect();
    for f in &written {
        println!("restored {}", f.destination.display());
    }
    println!(
        "{} file(s) restored ({}), {} already there with the right MD5, below {}",
        written.len(),
        human_bytes(written.iter().map(|f| f.size).sum()),
        files.len() - written.len(),
        to.display()
    );
}

/// What `sync-db` found and did.
pub fn print_sync(report: &SyncReport, dry_run: bool) {
    let verb = if dry_run { "would be " } else { "" };
    println!(
        "{} archive row(s) {verb}added, {} {verb}updated, {} already right.",
        report.added.len(),
        report.updated.len(),
        report.unchanged.len()
    );
    for (what, added) in [
        ("notes", &report.notes_added),
        ("catalog snapshot", &report.snapshots_added),
        ("processed file", &report.processed_added),
    ] {
        if !added.is_empty() {
            println!("{} {what} row(s) {verb}added.", added.len());
        }
    }
    for k in &report.archives_without_manifest {
        println!(
            "archive without a manifest (not recorded): {k}; with the catalog, \
             `fitsbak upload --no-skip-existing --session-id ID` backs the session up again"
        );
    }
    for k in &report.manifests_without_archive {
        println!("manifest without its archive (not recorded): {k}");
    }
    for k in &report.unreadable {
        println!("unreadable manifest: {k}");
    }
    for c in &report.conflicts {
        println!("conflict (not recorded): {c}");
    }
    if !dry_run {
        println!("Nothing is marked verified: run `fitsbak verify --all` to check the archives.");
    }
}
