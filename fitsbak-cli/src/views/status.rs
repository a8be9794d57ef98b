//! `fitsbak status`, for people.

use fitsbak_core::engine::status::StatusReport;

use crate::output::{count, human_bytes, table};

/// Prints the status report.
pub fn print(r: &StatusReport) {
    println!("Target:     {}", r.target);
    println!("Catalog:    {}", r.catalog);
    for (elsewhere, n) in &r.other_targets {
        println!(
            "Elsewhere:  {n} archive(s) recorded in {elsewhere}, not in {}: `fitsbak upload` sends them here",
            r.target
        );
    }
    if let Some(from) = &r.catalog_paths_from {
        println!("            (database and notes paths from the cataloger's {from})");
    }
    println!();
    println!(
        "Sessions:   {} total, {} backed up ({:.1}% up to date), {} not backed up",
        count(r.sessions_total),
        count(r.sessions_backed_up),
        r.percent_backed_up,
        count(r.sessions_not_backed_up)
    );
    if !r.sessions_changed.is_empty() {
        let names: Vec<&str> = r
            .sessions_changed
            .iter()
            .take(5)
            .map(|s| s.as_str())
            .collect();
        let more = r.sessions_changed.len().saturating_sub(names.len());
        println!(
            "Changed:    {} session(s) changed since backup ({}{}); `fitsbak upload` backs them up again",
            count(r.sessions_changed.len() as u64),
            names.join(", "),
            if more > 0 {
                format!(", and {more} more")
            } else {
                String::new()
            }
        );
    }
    println!(
        "Files:      {} of {} catalogued files backed up, {}",
        count(r.files_backed_up),
        count(r.files_total),
        human_bytes(r.bytes_backed_up)
    );
    println!(
        "Archives:   {} ({} verified, {} due a check), {} in the target",
        count(r.storage_classes.values().map(|c| c.archives).sum()),
        count(r.archives_verified),
        count(r.archives_check_due),
        human_bytes(r.archive_bytes)
    );
    if r.notes_backed_up > 0 || r.db_snapshots > 0 {
        println!(
            "Also:       {} session note(s), {} catalog snapshot(s)",
            count(r.notes_backed_up),
            count(r.db_snapshots)
        );
    }
    println!(
        "Cost:       about ${:.2}/month as stored now, ${:.2}/month once the lifecycle rules \
         apply (`fitsbak estimate-costs`)",
        r.cost.monthly_usd_as_stored, r.cost.monthly_usd_with_lifecycle
    );
    match &r.last_run {
        Some(run) => println!(
            "Last run:   {}: {} upload(s), {}, {} verification(s)",
            run.stat_date
                .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_else(|| "unknown time".into()),
            count(run.uploads_count),
            human_bytes(run.uploads_bytes),
            count(run.verifications_count)
        ),
        None => println!("Last run:   none yet"),
    }
    if r.uploads_in_flight > 0 {
        println!(
            "In flight:  {} interrupted upload(s); `fitsbak upload` resumes them",
            r.uploads_in_flight
        );
    }
    if r.archives_without_session > 0 {
        println!(
            "Orphans:    {} archive(s) whose session is no longer in the catalog",
            r.archives_without_session
        );
    }
    if !r.storage_classes.is_empty() {
        println!();
        let mut t = table(&["Storage class", "Archives", "Size"], &[1, 2]);
        for (class, c) in &r.storage_classes {
            t.add_row(vec![class.clone(), count(c.archives), human_bytes(c.bytes)]);
        }
        println!("{}", t.trim_fmt());
    }
    if !r.categories.is_empty() {
        println!();
        crate::views::processed::print_categories(&r.categories);
    }
}
