//! `fitsbak migrate`, for people.

use fitsbak_core::engine::migrate::{Adoption, MigrateReport, NoteAdoption};

use crate::output::{human_bytes, table, usd};

fn adoption(a: Adoption, dry_run: bool) -> &'static str {
    match (a, dry_run) {
        (Adoption::Tracked, _) => "already tracked",
        (Adoption::DeepChecked, _) => "read, checked, adopted",
        (Adoption::ToRead, _) => "to read and check",
        (Adoption::OnHeadEvidence, true) => "to adopt on HEAD (archived)",
        (Adoption::OnHeadEvidence, false) => "adopted on HEAD (archived)",
        (Adoption::Damaged, _) => "DAMAGED: upload sends it again",
        (Adoption::Missing, _) => "MISSING: upload sends it again",
        (Adoption::NotCatalogued, _) => "not in the catalog, left alone",
    }
}

fn note(a: NoteAdoption, dry_run: bool) -> &'static str {
    match (a, dry_run) {
        (NoteAdoption::Tracked, _) => "already tracked",
        (NoteAdoption::Adopted, true) => "to adopt (content unchanged)",
        (NoteAdoption::Adopted, false) => "adopted (content unchanged)",
        (NoteAdoption::Changed, _) => "changed: `fitsbak notes upload` sends it",
        (NoteAdoption::OlderKey, _) => "older key: `fitsbak notes upload` moves it",
    }
}

/// Prints the plan, or what was done.
pub fn print(r: &MigrateReport) {
    let mut t = table(
        &["Session", "Archive", "Size", "Class", "Members", "Result"],
        &[2, 4],
    );
    for a in &r.archives {
        t.add_row(vec![
            a.session_id.clone(),
            format!(
                "{}{}",
                a.key,
                a.compression
                    .as_deref()
                    .map_or(String::new(), |c| format!(" ({c})"))
            ),
            human_bytes(a.size_bytes),
            a.storage_class
                .as_ref()
                .map_or("-".into(), |c| c.to_string()),
            a.members.to_string(),
            adoption(a.adoption, r.dry_run).into(),
        ]);
    }
    println!("Archives\n{}", t.trim_fmt());
    for a in &r.archives {
        for d in &a.details {
            println!("  {}: {d}", a.session_id);
        }
        if let Some(cheapest) = a.deep_check_cost.iter().find(|t| t.available) {
            println!(
                "  {}: reading it needs a restore: {} at the {} tier ({}); `fitsbak restore request --session-id {}`, then `fitsbak migrate` again",
                a.session_id,
                usd(cheapest.cost_usd),
                cheapest.tier,
                cheapest.wait,
                a.session_id
            );
        }
    }
    if !r.notes.is_empty() {
        let mut t = table(&["Session", "Notes", "Result"], &[]);
        for n in &r.notes {
            t.add_row(vec![
                n.session_id.clone(),
                n.key.clone(),
                note(n.adoption, r.dry_run).into(),
            ]);
        }
        println!("\nNotes\n{}", t.trim_fmt());
    }
    if !r.snapshots.is_empty() {
        let mut t = table(
            &["Snapshot", "Version", "Size", "Taken", "Description"],
            &[2],
        );
        for s in &r.snapshots {
            t.add_row(vec![
                s.key.clone(),
                s.version_id.clone().unwrap_or_else(|| "-".into()),
                human_bytes(s.size_bytes),
                s.last_modified
                    .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_default(),
                s.description.clone().unwrap_or_default(),
            ]);
        }
        println!("\nDatabase snapshots\n{}", t.trim_fmt());
    }
    let verb = if r.dry_run {
        "would be retagged"
    } else {
        "retagged"
    };
    println!(
        "\n{} object(s) {verb} with the config's tags{}",
        r.retagged.len(),
        if r.dry_run {
            "; nothing was changed (dry run)"
        } else {
            ""
        }
    );
    if !r.dry_run && !r.changes() && r.damaged() == 0 {
        println!("Nothing to do: everything is adopted.");
    }
}
