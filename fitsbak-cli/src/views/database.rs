//! `fitsbak backup-db`, `list-db-backups` and `restore-db`, for people.

use std::path::Path;

use fitsbak_core::engine::database::{DbSnapshotListing, RestoredSnapshot};
use fitsbak_core::snapshot::SnapshotInfo;
use fitsbak_core::store::RestoreTier;
use fitsbak_core::tracker::DbSnapshotRecord;

use crate::output::{human_bytes, table};

fn version(v: &Option<String>, label: &str) -> String {
    v.as_ref()
        .map(|v| format!("{label}{v}"))
        .unwrap_or_default()
}

/// The snapshot just taken and uploaded.
pub fn print_backup(record: &DbSnapshotRecord, info: &SnapshotInfo, source: &Path, target: &str) {
    println!(
        "Snapshot of {} ({}, {} pages, integrity ok) uploaded to {target}/{}{}",
        source.display(),
        human_bytes(info.size_bytes),
        info.pages,
        record.key,
        version(&record.version_id, " as version ")
    );
}

/// The snapshots in the bucket.
pub fn print_list(snapshots: &[DbSnapshotListing], target: &str, prefix: &str) {
    if snapshots.is_empty() {
        println!(
            "No catalog snapshots in {target} under {prefix}/ (`fitsbak backup-db` takes one)"
        );
        return;
    }
    let mut t = table(
        &[
            "Key",
            "Version",
            "Size",
            "Taken",
            "Storage class",
            "Description",
        ],
        &[2],
    );
    for s in snapshots {
        t.add_row(vec![
            s.key.clone(),
            match &s.version_id {
                Some(v) if s.is_latest => format!("{v} (latest)"),
                Some(v) => v.clone(),
                None => "-".into(),
            },
            human_bytes(s.size_bytes),
            s.last_modified
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default(),
            s.storage_class.to_string(),
            s.description.clone().unwrap_or_default(),
        ]);
    }
    println!("{}", t.trim_fmt());
}

/// A restore of an archived snapshot was asked for.
pub fn print_requested(snapshot: &DbSnapshotListing, tier: RestoreTier, days: u32) {
    println!(
        "Restore of {}{} requested ({tier} tier, readable for {days} days once done); \
         run `fitsbak restore-db` with --output when it is available",
        snapshot.key,
        version(&snapshot.version_id, " version ")
    );
}

/// A snapshot restored to a file.
pub fn print_restored(restored: &RestoredSnapshot) {
    println!(
        "Restored {}{} to {} ({}, MD5 {}{}, PRAGMA integrity_check ok)",
        restored.key,
        version(&restored.version_id, " version "),
        restored.path.display(),
        human_bytes(restored.size_bytes),
        restored.md5,
        if restored.md5_checked {
            " as uploaded"
        } else {
            ", not recorded at upload"
        }
    );
}
