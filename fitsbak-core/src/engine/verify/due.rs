//! `verify --due`: the checks a schedule runs. Quick checks of the archives whose
//! last passed check is older than `verification.quick_every_days`; deep checks of a
//! rotating few (`deep_per_run`, the longest unchecked first) among those readable
//! without a restore, while this month's deep-check egress stays within
//! `monthly_egress_budget_usd`. It never asks for a restore: archived objects that a
//! deep check would need restored are listed.

use std::collections::HashMap;

use chrono::Datelike;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use super::CheckReport;
use crate::engine::Engine;
use crate::engine::costs::gb;
use crate::error::Result;
use crate::ids::SessionId;
use crate::tracker::{ArchiveRecord, CheckMethod};

/// What `verify --due` did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DueReport {
    /// The checks run, quick then deep.
    pub checks: Vec<CheckReport>,
    /// Archives whose quick check was not due.
    pub quick_not_due: usize,
    /// Archives a deep check would read but whose egress the budget has no room for.
    pub deep_over_budget: Vec<SessionId>,
    /// Archived objects a deep check needs restored first (never started here).
    pub deep_needs_restore: Vec<SessionId>,
    /// Deep-check egress this calendar month before this run, and after it (USD).
    pub egress_spent_usd: f64,
    /// After this run.
    pub egress_after_usd: f64,
    /// The month's budget.
    pub egress_budget_usd: f64,
}

/// Whether `record`'s quick check is due at `now`: it never passed, failed since,
/// or passed longer than `quick_every_days` ago.
pub fn quick_due(
    record: &ArchiveRecord,
    settings: &crate::config::VerificationSettings,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    let cutoff = now - chrono::Duration::days(i64::from(settings.quick_every_days));
    !record.verified || record.last_verified_at.is_none_or(|t| t < cutoff)
}

impl Engine {
    /// Runs the checks that are due (see the module's rules), recording each.
    pub async fn verify_due(&self) -> Result<DueReport> {
        let settings = &self.config.verification;
        let price = self.config.cost_tracking.data_transfer_cost_per_gb.download;
        let now = crate::time::now();
        let records = self.target_archives().await?;
        let deep_history = self.tracker.check_history(CheckMethod::Deep).await?;
        let month_start = now
            .date_naive()
            .with_day(1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc())
            .unwrap_or(now);
        let spent_bytes: u64 = deep_history
            .iter()
            .filter(|c| c.at >= month_start)
            .map(|c| c.bytes)
            .sum();
        let mut last_deep: HashMap<&SessionId, chrono::DateTime<chrono::Utc>> = HashMap::new();
        for c in &deep_history {
            last_deep.insert(&c.session_id, c.at);
        }
        let mut report = DueReport {
            egress_spent_usd: gb(spent_bytes) * price,
            egress_budget_usd: settings.monthly_egress_budget_usd,
            ..DueReport::default()
        };
        let (due, not_due): (Vec<&ArchiveRecord>, Vec<&ArchiveRecord>) =
            records.iter().partition(|r| quick_due(r, settings, now));
        report.quick_not_due = not_due.len();
        self.progress.run_started(&crate::progress::RunPlan {
            operation: "verify --due",
            items: due.len() as u64 + u64::from(settings.deep_per_run),
            bytes: 0,
        });
        let listing = self.listing_for(due.iter().copied()).await?;
        let quick: Vec<CheckReport> = futures::stream::iter(
            due.iter()
                .map(|r| self.check_one(r, CheckMethod::Quick, false, listing.as_ref())),
        )
        .buffered(self.config.archive_concurrency.max(1))
        .try_collect()
        .await?;
        report.checks.extend(quick);
        // Deep: the longest unchecked first; never-checked ones before all.
        let mut candidates: Vec<&ArchiveRecord> = records.iter().collect();
        candidates.sort_by_key(|r| (last_deep.get(&r.session_id).copied(), r.session_id.clone()));
        let mut spent = spent_bytes;
        let mut taken = 0;
        for record in candidates {
            if taken >= settings.deep_per_run {
                break;
            }
            if record
                .current_storage_class
                .as_ref()
                .is_some_and(|c| c.needs_restore())
            {
                report.deep_needs_restore.push(record.session_id.clone());
                continue;
            }
            let after = gb(spent + record.archive_size_bytes) * price;
            if price > 0.0 && after > settings.monthly_egress_budget_usd
                || settings.monthly_egress_budget_usd <= 0.0
            {
                report.deep_over_budget.push(record.session_id.clone());
                continue;
            }
            report.checks.push(
                self.check_one(record, CheckMethod::Deep, false, None)
                    .await?,
            );
            spent += record.archive_size_bytes;
            taken += 1;
        }
        self.progress.run_finished();
        report.egress_after_usd = gb(spent) * price;
        Ok(report)
    }
}
