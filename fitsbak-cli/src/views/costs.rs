//! `fitsbak estimate-costs`, for people.

use fitsbak_core::engine::costs::{Cost, CostEstimate};

use crate::output::{count, human_bytes, table, usd};

/// Prints what is tracked, what it costs, and what restoring it costs.
pub fn print(e: &CostEstimate, config_path: &std::path::Path) {
    let mut t = table(&["Tracked", "Objects", "Size", "Ends in"], &[1, 2]);
    for k in &e.kinds {
        let mut path = vec![k.schedule.written.to_string()];
        let mut current = k.schedule.written.clone();
        for (days, _) in &k.schedule.transitions {
            let class = k.schedule.class_on_day(*days);
            if class != current {
                path.push(format!("{class} after {days} d"));
                current = class;
            }
        }
        t.add_row(vec![
            k.kind.clone(),
            count(k.objects),
            human_bytes(k.bytes),
            path.join(" -> "),
        ]);
    }
    println!("{}", t.trim_fmt());
    println!();
    let mut t = table(&["Storage", "Per month", "First year"], &[1, 2]);
    let row = |label: String, c: &Cost| vec![label, usd(c.monthly_usd), usd(c.first_year_usd)];
    t.add_row(row("as stored now".into(), &e.as_stored));
    t.add_row(row("with the lifecycle rules".into(), &e.with_lifecycle));
    if let Some((class, c)) = &e.in_class {
        t.add_row(row(format!("all in {class}"), c));
    }
    println!("{}", t.trim_fmt());
    println!();
    let mut t = table(
        &["Restore everything", "Retrieval", "Egress", "Total", "Wait"],
        &[1, 2, 3],
    );
    for tier in &e.restore_tiers {
        t.add_row(if tier.available {
            vec![
                tier.tier.to_string(),
                usd(tier.cost_usd),
                usd(e.egress_usd),
                usd(e.restore_total(tier)),
                tier.wait.clone(),
            ]
        } else {
            vec![
                tier.tier.to_string(),
                "-".into(),
                "-".into(),
                "-".into(),
                tier.wait.clone(),
            ]
        });
    }
    println!("{}", t.trim_fmt());
    println!(
        "Prices from cost_tracking in {} (per GB of 2^30 bytes); the first year counts the \
         days before each transition. DEEP_ARCHIVE bills at least 180 days per object.",
        config_path.display()
    );
}
