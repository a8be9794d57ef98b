//! `fitsbak verify`, for people.

use fitsbak_core::engine::verify::CheckReport;
use fitsbak_core::tracker::CheckOutcome;

use crate::output::table;

/// Prints one row per check and the counts.
pub fn print(reports: &[CheckReport], failed: usize, restore: usize) {
    let mut t = table(
        &["Session", "Check", "Result", "Storage class", "Details"],
        &[],
    );
    for r in reports {
        let (result, details) = match &r.outcome {
            CheckOutcome::Passed => ("passed", r.notes.join("; ")),
            CheckOutcome::Failed(reasons) => ("FAILED", reasons.join("; ")),
            CheckOutcome::NeedsRestore(hint) => ("needs restore", hint.clone()),
            CheckOutcome::NotAdopted(why) => ("not adopted", why.clone()),
        };
        t.add_row(vec![
            r.session_id.to_string(),
            r.method.name().to_owned(),
            result.to_owned(),
            r.storage_class
                .as_ref()
                .map(|c| c.to_string())
                .unwrap_or_default(),
            details,
        ]);
    }
    if !reports.is_empty() {
        println!("{}", t.trim_fmt());
    }
    println!(
        "{} passed, {failed} failed, {restore} need a restore first",
        reports.len() - failed - restore
    );
}
