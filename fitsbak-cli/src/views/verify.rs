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

/// What `verify --due` checked, and what it left for the budget or a restore.
pub fn print_due(r: &fitsbak_core::engine::verify::due::DueReport, failed: usize) {
    let restore = r
        .checks
        .iter()
        .filter(|c| matches!(c.outcome, CheckOutcome::NeedsRestore(_)))
        .count();
    print(&r.checks, failed, restore);
    println!(
        "{} archive(s) were checked recently enough",
        r.quick_not_due
    );
    println!(
        "Deep-check egress this month: {} of {} budget (was {})",
        crate::output::usd(r.egress_after_usd),
        crate::output::usd(r.egress_budget_usd),
        crate::output::usd(r.egress_spent_usd)
    );
    if !r.deep_over_budget.is_empty() {
        println!(
            "Left for next month's budget: {}",
            r.deep_over_budget
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !r.deep_needs_restore.is_empty() {
        println!(
            "Archived, a deep check needs a restore first (`fitsbak restore request`): {}",
            r.deep_needs_restore
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

/// `verify --dry-run`.
pub fn print_plan(plan: &fitsbak_core::engine::verify::VerifyPlan) {
    let methods: Vec<&str> = plan.methods.iter().map(|m| m.name()).collect();
    println!(
        "{} archive(s), {} check(s): {}",
        crate::output::count(plan.archives),
        crate::output::count(plan.checks),
        methods.join(", ")
    );
    let years: Vec<String> = plan
        .per_year
        .iter()
        .map(|(y, n)| format!("{y}: {n}"))
        .collect();
    if !years.is_empty() {
        println!("Per year: {}", years.join(", "));
    }
    if plan.prefixes_listed > 0 {
        println!(
            "Sizes, ETags and classes from one listing of each of {} prefix(es) instead of a HEAD per archive",
            plan.prefixes_listed
        );
    }
    if plan.bytes_read > 0 {
        println!(
            "A deep check reads {} back",
            indicatif::HumanBytes(plan.bytes_read)
        );
    }
    if plan.need_restore_for_deep > 0 {
        println!(
            "{} archive(s) are in cold storage: their deep check needs a restore first",
            plan.need_restore_for_deep
        );
    }
    println!("Nothing was checked (--dry-run).");
}
