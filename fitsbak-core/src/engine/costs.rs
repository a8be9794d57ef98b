//! Cost estimates from the tracked sizes and the config's price table
//! (`cost_tracking`): storage per month and over the first year, as stored now and
//! with the lifecycle transitions the generated rules make, and what restoring
//! everything would cost per tier, egress included.
//!
//! Prices are per GB as AWS bills them, where a GB is 2^30 bytes. An object's first
//! year runs from its upload: the days before each transition are billed at the
//! class it is in then.

use serde::Serialize;

use crate::config::{Config, CostTracking};
use crate::engine::Engine;
use crate::engine::lifecycle::{generate_rules, sample_key};
use crate::error::Result;
use crate::model::StorageClass;
use crate::rules::RuleStatus;
use crate::store::RestoreTier;
use crate::tags::ObjectKind;
use crate::tracker::Tracker;

/// Bytes in a billed GB.
pub const GB: f64 = (1u64 << 30) as f64;

/// Days in a billed month (a year is twelve of them).
pub const MONTH_DAYS: f64 = 365.0 / 12.0;

/// `bytes` in billed GB.
pub fn gb(bytes: u64) -> f64 {
    bytes as f64 / GB
}

/// AWS's published wait for a restore (`None`: the tier is not offered for the class).
pub fn restore_wait(class: &StorageClass, tier: RestoreTier) -> Option<&'static str> {
    wait_and_hours(class, tier).map(|(wait, _)| wait)
}

/// The published wait and its upper bound in hours.
fn wait_and_hours(class: &StorageClass, tier: RestoreTier) -> Option<(&'static str, u32)> {
    match (class, tier) {
        (StorageClass::DeepArchive, RestoreTier::Standard) => Some(("within 12 hours", 12)),
        (StorageClass::DeepArchive, RestoreTier::Bulk) => Some(("within 48 hours", 48)),
        (StorageClass::DeepArchive, RestoreTier::Expedited) => None,
        (_, RestoreTier::Expedited) => Some(("1-5 minutes", 1)),
        (_, RestoreTier::Standard) => Some(("3-5 hours", 5)),
        (_, RestoreTier::Bulk) => Some(("5-12 hours", 12)),
    }
}

/// What a restore would cost and take at one tier.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierEstimate {
    /// The tier.
    pub tier: RestoreTier,
    /// Retrieval cost in USD.
    pub cost_usd: f64,
    /// The longest wait among the objects, or why the tier is not offered.
    pub wait: String,
    /// False when some object cannot be restored at this tier.
    pub available: bool,
}

/// Retrieval cost and wait per tier for objects of these sizes and classes
/// (objects that need no restore cost nothing and do not wait).
pub fn tier_estimates(objects: &[(u64, StorageClass)], costs: &CostTracking) -> Vec<TierEstimate> {
    [
        RestoreTier::Bulk,
        RestoreTier::Standard,
        RestoreTier::Expedited,
    ]
    .into_iter()
    .map(|tier| {
        let mut longest: Option<(&str, u32)> = None;
        let mut refused: Option<&StorageClass> = None;
        let mut cost = 0.0;
        for (bytes, class) in objects.iter().filter(|(_, c)| c.needs_restore()) {
            match wait_and_hours(class, tier) {
                Some(w) if longest.is_none_or(|l| w.1 > l.1) => longest = Some(w),
                Some(_) => {}
                None => refused = Some(class),
            }
            cost += gb(*bytes) * costs.retrieval_price(class, tier.as_str());
        }
        TierEstimate {
            tier,
            cost_usd: cost,
            wait: match (refused, longest) {
                (Some(class), _) => format!("not offered for {class}"),
                (None, Some((wait, _))) => wait.to_owned(),
                (None, None) => "-".to_owned(),
            },
            available: refused.is_none(),
        }
    })
    .collect()
}

fn coldness(class: &StorageClass) -> u8 {
    match class {
        StorageClass::DeepArchive => 5,
        StorageClass::Glacier => 4,
        StorageClass::GlacierIr => 3,
        StorageClass::StandardIa | StorageClass::OnezoneIa => 2,
        StorageClass::IntelligentTiering => 1,
        _ => 0,
    }
}

/// Where an object of one kind sits over time: the class it is written with, then
/// the transitions of the generated lifecycle rules that match its key and tags.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StorageSchedule {
    /// The class it is written with.
    pub written: StorageClass,
    /// Transitions: after how many days, to which class; in day order.
    pub transitions: Vec<(u32, StorageClass)>,
}

impl StorageSchedule {
    /// The schedule of an object of `kind` under the config's rules.
    pub fn for_kind(config: &Config, kind: ObjectKind) -> Self {
        let written = config
            .rule_for(kind)
            .map(|r| r.storage_class.clone())
            .unwrap_or_default();
        let key = sample_key(config, kind);
        let tags = config.tags_for(kind);
        let mut transitions: Vec<(u32, StorageClass)> = generate_rules(config)
            .into_iter()
            .filter(|r| r.status == RuleStatus::Enabled && r.filter.matches(&key, &tags))
            .flat_map(|r| r.transitions)
            .map(|t| (t.days, t.storage_class))
            .collect();
        transitions.sort_by_key(|(days, class)| (*days, coldness(class)));
        Self {
            written,
            transitions,
        }
    }

    /// The class on day `day` after the upload: the coldest the object has reached.
    pub fn class_on_day(&self, day: u32) -> StorageClass {
        self.transitions
            .iter()
            .filter(|(d, _)| *d <= day)
            .map(|(_, c)| c)
            .chain(std::iter::once(&self.written))
            .max_by_key(|c| coldness(c))
            .cloned()
            .unwrap_or_default()
    }

    /// The class once every transition has happened.
    pub fn final_class(&self) -> StorageClass {
        self.class_on_day(u32::MAX)
    }

    /// USD per GB over the first 365 days.
    pub fn first_year_price(&self, costs: &CostTracking) -> f64 {
        let mut bounds: Vec<u32> = self
            .transitions
            .iter()
            .map(|(d, _)| *d)
            .filter(|d| *d < 365)
            .collect();
        bounds.push(0);
        bounds.push(365);
        bounds.sort_unstable();
        bounds.dedup();
        bounds
            .windows(2)
            .map(|w| {
                let class = self.class_on_day(w[0]);
                costs.storage_price(&class) * f64::from(w[1] - w[0]) / MONTH_DAYS
            })
            .sum()
    }
}

/// Storage cost: per month and over a first year.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Cost {
    /// USD per month.
    pub monthly_usd: f64,
    /// USD over the first twelve months.
    pub first_year_usd: f64,
}

impl std::ops::AddAssign for Cost {
    fn add_assign(&mut self, other: Self) {
        self.monthly_usd += other.monthly_usd;
        self.first_year_usd += other.first_year_usd;
    }
}

/// The tracked objects of one kind and what they cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindEstimate {
    /// `archives`, `notes`, `catalog snapshots`.
    pub kind: String,
    /// How many objects.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// In the classes recorded for them now, kept there.
    pub as_stored: Cost,
    /// With the lifecycle transitions: the month figure is once they have all
    /// happened, the year figure counts the days before them.
    pub with_lifecycle: Cost,
    /// Where the lifecycle rules put them.
    pub schedule: StorageSchedule,
}

/// `estimate-costs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostEstimate {
    /// Per kind of object.
    pub kinds: Vec<KindEstimate>,
    /// All of them, as stored now.
    pub as_stored: Cost,
    /// All of them, with the lifecycle transitions.
    pub with_lifecycle: Cost,
    /// All of them in the class asked for (`--storage-class`).
    pub in_class: Option<(StorageClass, Cost)>,
    /// Restoring everything from where the lifecycle rules put it, per tier.
    pub restore_tiers: Vec<TierEstimate>,
    /// Downloading everything afterwards (transfer out).
    pub egress_usd: f64,
    /// Bytes tracked.
    pub bytes: u64,
}

impl CostEstimate {
    /// Retrieval at `tier` plus egress.
    pub fn restore_total(&self, tier: &TierEstimate) -> f64 {
        tier.cost_usd + self.egress_usd
    }
}

/// Objects smaller than this are not moved by lifecycle transitions (S3's default
/// since September 2024: `all_storage_classes_128K`).
pub const MIN_TRANSITION_BYTES: u64 = 128 * 1024;

/// Estimates from sizes: each object is its bytes and its current class.
pub fn estimate(
    config: &Config,
    objects: &[(ObjectKind, u64, Option<StorageClass>)],
    class: Option<StorageClass>,
) -> CostEstimate {
    let costs = &config.cost_tracking;
    let kinds = [
        (ObjectKind::RawArchive, "archives"),
        (ObjectKind::SessionNotes, "notes"),
        (ObjectKind::DatabaseSnapshot, "catalog snapshots"),
        (ObjectKind::ProcessingNotes, "processing notes"),
        (ObjectKind::ProcessedIntermediate, "intermediate files"),
        (ObjectKind::ProcessedFinal, "final files"),
    ];
    let mut out = CostEstimate {
        kinds: Vec::new(),
        as_stored: Cost::default(),
        with_lifecycle: Cost::default(),
        in_class: class.clone().map(|c| (c, Cost::default())),
        restore_tiers: Vec::new(),
        egress_usd: 0.0,
        bytes: 0,
    };
    let mut restorable = Vec::new();
    for (kind, label) in kinds {
        let schedule = StorageSchedule::for_kind(config, kind);
        let final_class = schedule.final_class();
        let year_price = schedule.first_year_price(costs);
        let mut k = KindEstimate {
            kind: label.to_owned(),
            objects: 0,
            bytes: 0,
            as_stored: Cost::default(),
            with_lifecycle: Cost::default(),
            schedule,
        };
        for (_, bytes, current) in objects.iter().filter(|(o, _, _)| *o == kind) {
            let size = gb(*bytes);
            let current = current
                .clone()
                .unwrap_or_else(|| k.schedule.written.clone());
            k.objects += 1;
            k.bytes += bytes;
            let now = size * costs.storage_price(&current);
            k.as_stored += Cost {
                monthly_usd: now,
                first_year_usd: now * 12.0,
            };
            // Since September 2024 S3 does not transition objects under 128 KB by
            // default (`x-amz-transition-default-minimum-object-size`): they stay
            // in the class they are in.
            k.with_lifecycle += if *bytes < MIN_TRANSITION_BYTES {
                let stays = now;
                Cost {
                    monthly_usd: stays,
                    first_year_usd: stays * 12.0,
                }
            } else {
                Cost {
                    monthly_usd: size * costs.storage_price(&final_class),
                    first_year_usd: size * year_price,
                }
            };
            if let Some((class, cost)) = &mut out.in_class {
                let monthly = size * costs.storage_price(class);
                *cost += Cost {
                    monthly_usd: monthly,
                    first_year_usd: monthly * 12.0,
                };
            }
            restorable.push((*bytes, final_class.clone()));
        }
        out.as_stored += k.as_stored;
        out.with_lifecycle += k.with_lifecycle;
        out.bytes += k.bytes;
        out.kinds.push(k);
    }
    out.restore_tiers = tier_estimates(&restorable, costs);
    out.egress_usd = gb(out.bytes) * costs.data_transfer_cost_per_gb.download;
    out
}

/// Estimates from the tracking tables: archives, notes and catalog snapshots.
pub async fn estimate_from(
    config: &Config,
    tracker: &dyn Tracker,
    class: Option<StorageClass>,
) -> Result<CostEstimate> {
    let mut objects = Vec::new();
    let bucket = config.target_bucket();
    for a in tracker
        .archives()
        .await?
        .into_iter()
        .filter(|a| a.bucket == bucket)
    {
        objects.push((
            ObjectKind::RawArchive,
            a.archive_size_bytes,
            a.current_storage_class,
        ));
    }
    for n in tracker.notes().await? {
        objects.push((ObjectKind::SessionNotes, n.size_bytes, n.storage_class));
    }
    for s in tracker.db_snapshots().await? {
        objects.push((ObjectKind::DatabaseSnapshot, s.size_bytes, None));
    }
    for n in tracker.processing_notes().await? {
        objects.push((ObjectKind::ProcessingNotes, n.size, Some(n.storage_class)));
    }
    for p in tracker
        .processed()
        .await?
        .into_iter()
        .filter(|p| p.bucket == bucket)
    {
        let kind = crate::processed::kind_of_key(&p.key);
        objects.push((kind, p.size, Some(p.storage_class)));
    }
    Ok(estimate(config, &objects, class))
}

impl Engine {
    /// Estimates from the tracking tables: archives, notes, catalog snapshots,
    /// processing notes, intermediate and final files.
    pub async fn estimate_costs(&self, class: Option<StorageClass>) -> Result<CostEstimate> {
        estimate_from(&self.config, self.tracker.as_ref(), class).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn objects_under_128_kb_stay_where_they_were_written() {
        let config = Config::default();
        let small = 100 * 1024;
        let e = estimate(&config, &[(ObjectKind::RawArchive, small, None)], None);
        let standard = config.cost_tracking.storage_price(&StorageClass::Standard);
        let expected = gb(small) * standard;
        assert!((e.with_lifecycle.monthly_usd - expected).abs() < 1e-15);
        let big = estimate(&config, &[(ObjectKind::RawArchive, GIB, None)], None);
        assert!(big.with_lifecycle.monthly_usd < gb(GIB) * standard);
    }

    #[test]
    fn the_default_rules_send_archives_to_deep_archive_at_once() {
        let config = Config::default();
        let s = StorageSchedule::for_kind(&config, ObjectKind::RawArchive);
        assert_eq!(s.written, StorageClass::Standard);
        assert_eq!(s.class_on_day(0), StorageClass::DeepArchive);
        assert_eq!(s.final_class(), StorageClass::DeepArchive);
        let costs = &config.cost_tracking;
        assert!((s.first_year_price(costs) - 12.0 * 0.00099).abs() < 1e-12);
    }

    #[test]
    fn days_before_a_transition_are_billed_at_the_class_written() {
        let mut config = Config::default();
        // backup=flexible: GLACIER at once; archive=fast: DEEP_ARCHIVE after 7 days.
        config.backup_rules.raw_lights.backup_policy = "flexible".into();
        let s = StorageSchedule::for_kind(&config, ObjectKind::RawArchive);
        assert_eq!(s.class_on_day(6), StorageClass::Glacier);
        assert_eq!(s.class_on_day(7), StorageClass::DeepArchive);
        let costs = &config.cost_tracking;
        let expected = (0.0036 * 7.0 + 0.00099 * 358.0) / MONTH_DAYS;
        assert!((s.first_year_price(costs) - expected).abs() < 1e-12);
    }

    #[test]
    fn estimates_add_up_by_hand() {
        let config = Config::default();
        let objects = [
            (
                ObjectKind::RawArchive,
                2 * GIB,
                Some(StorageClass::Standard),
            ),
            (ObjectKind::RawArchive, GIB, Some(StorageClass::DeepArchive)),
            (ObjectKind::SessionNotes, GIB / 2, None),
        ];
        let e = estimate(&config, &objects, Some(StorageClass::GlacierIr));
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(
            e.as_stored.monthly_usd,
            2.0 * 0.023 + 0.00099 + 0.5 * 0.023
        ));
        assert!(close(e.with_lifecycle.monthly_usd, 3.5 * 0.00099));
        assert!(close(e.with_lifecycle.first_year_usd, 3.5 * 0.00099 * 12.0));
        assert!(close(e.in_class.unwrap().1.monthly_usd, 3.5 * 0.004));
        assert_eq!(e.bytes, 3 * GIB + GIB / 2);
        assert!(close(e.egress_usd, 3.5 * 0.09));
        let bulk = &e.restore_tiers[0];
        assert_eq!(bulk.tier, RestoreTier::Bulk);
        assert!(close(bulk.cost_usd, 3.5 * 0.0025));
        assert_eq!(bulk.wait, "within 48 hours");
        let expedited = &e.restore_tiers[2];
        assert!(!expedited.available);
        assert_eq!(expedited.wait, "not offered for DEEP_ARCHIVE");
    }

    #[test]
    fn objects_that_need_no_restore_cost_nothing_to_restore() {
        let tiers = tier_estimates(&[(GIB, StorageClass::Standard)], &CostTracking::default());
        assert!(
            tiers
                .iter()
                .all(|t| t.cost_usd == 0.0 && t.available && t.wait == "-")
        );
    }
}
