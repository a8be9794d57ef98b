//! `fitsbak analyze`, for people.

use fitsbak_core::engine::analyze::AnalyzeReport;

use crate::output::{count, human_bytes, human_duration, table};

/// Missing files listed in the human report before it points to `--json`.
pub const MISSING_SHOWN: usize = 20;

/// Prints one row per year, the total, and the first missing files.
pub fn print(r: &AnalyzeReport) {
    let bandwidth = r.bandwidth_mbps;
    let mut t = table(
        &[
            "Year",
            "Sessions",
            "Files",
            "Size",
            "Avg session",
            "Largest session",
            "Upload time",
            "Missing",
        ],
        &[1, 2, 3, 4, 6, 7],
    );
    for y in &r.years {
        t.add_row(vec![
            y.year.to_string(),
            count(y.sessions),
            count(y.files),
            human_bytes(y.total_bytes),
            human_bytes(y.average_session_bytes),
            y.largest_session
                .as_ref()
                .map(|(id, b)| format!("{id} ({})", human_bytes(*b)))
                .unwrap_or_default(),
            human_duration(y.upload_seconds),
            count(y.missing_files),
        ]);
    }
    t.add_row(vec![
        "Total".to_owned(),
        count(r.total.sessions),
        count(r.total.files),
        human_bytes(r.total.total_bytes),
        human_bytes(r.total.total_bytes / r.total.sessions.max(1)),
        String::new(),
        human_duration(r.total.upload_seconds),
        count(r.total.missing_files),
    ]);
    println!("{}", t.trim_fmt());
    println!("Upload times assume {bandwidth} Mbit/s.");
    if r.total.missing_files > 0 {
        println!();
        println!("Files listed in the catalog but not found on disk:");
        let missing: Vec<_> = r.years.iter().flat_map(|y| &y.missing).collect();
        for path in missing.iter().take(MISSING_SHOWN) {
            println!("  {}", path.display());
        }
        let unlisted = r.total.missing_files.saturating_sub(MISSING_SHOWN as u64);
        if unlisted > 0 {
            println!("  ... and {unlisted} more (`fitsbak analyze --json` lists them all)");
        }
    }
}
