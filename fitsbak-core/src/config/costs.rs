//! `cost_tracking`: the prices estimates use, per GB of 2^30 bytes as AWS bills.
//! The built-in table is AWS's list prices (us-east-1); a price the config does not
//! set falls back to it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::{Check, ConfigError};
use crate::model::StorageClass;

/// `cost_tracking`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CostTracking {
    /// Record cost estimates.
    pub track_costs: bool,
    /// USD per GB-month by storage class (`STANDARD`, `GLACIER_FLEXIBLE`, `DEEP_ARCHIVE`, ...).
    pub storage_cost_per_gb_per_month: BTreeMap<String, f64>,
    /// USD per GB transferred.
    pub data_transfer_cost_per_gb: TransferCosts,
    /// USD per GB retrieved by a restore, by storage class and tier.
    pub retrieval_cost_per_gb: BTreeMap<String, BTreeMap<String, f64>>,
}

impl Default for CostTracking {
    fn default() -> Self {
        let prices = [
            ("STANDARD", 0.023),
            ("STANDARD_IA", 0.0125),
            ("GLACIER_IR", 0.004),
            ("GLACIER_FLEXIBLE", 0.0036),
            ("DEEP_ARCHIVE", 0.00099),
        ];
        let tiers = |pairs: &[(&str, f64)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect::<BTreeMap<_, _>>()
        };
        Self {
            track_costs: true,
            storage_cost_per_gb_per_month: prices
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            data_transfer_cost_per_gb: TransferCosts::default(),
            retrieval_cost_per_gb: [
                (
                    "DEEP_ARCHIVE".to_owned(),
                    tiers(&[("Standard", 0.02), ("Bulk", 0.0025)]),
                ),
                (
                    "GLACIER_FLEXIBLE".to_owned(),
                    tiers(&[("Expedited", 0.03), ("Standard", 0.01), ("Bulk", 0.0)]),
                ),
            ]
            .into(),
        }
    }
}

impl CostTracking {
    /// USD per GB to restore an object of `class` at `tier` (0 when not archived).
    pub fn retrieval_price(&self, class: &StorageClass, tier: &str) -> f64 {
        self.retrieval_cost_per_gb
            .get(class.price_key())
            .and_then(|t| t.get(tier))
            .copied()
            .or_else(|| {
                CostTracking::default()
                    .retrieval_cost_per_gb
                    .get(class.price_key())
                    .and_then(|t| t.get(tier))
                    .copied()
            })
            .unwrap_or(0.0)
    }

    /// USD per GB-month for `class`: the configured price, else the built-in one.
    pub fn storage_price(&self, class: &StorageClass) -> f64 {
        let key = class.price_key();
        self.storage_cost_per_gb_per_month
            .get(key)
            .or_else(|| {
                (key == "GLACIER_FLEXIBLE")
                    .then(|| self.storage_cost_per_gb_per_month.get("GLACIER"))
                    .flatten()
            })
            .copied()
            .or_else(|| {
                CostTracking::default()
                    .storage_cost_per_gb_per_month
                    .get(key)
                    .copied()
            })
            .unwrap_or(0.023)
    }
}

/// `cost_tracking.data_transfer_cost_per_gb`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TransferCosts {
    /// Into the bucket.
    pub upload: f64,
    /// Out of the bucket.
    pub download: f64,
}

impl Default for TransferCosts {
    fn default() -> Self {
        Self {
            upload: 0.0,
            download: 0.09,
        }
    }
}

impl CostTracking {
    /// Every price a non-negative number.
    pub(crate) fn validate(&self, check: &Check) -> Result<(), ConfigError> {
        for (key, price) in &self.storage_cost_per_gb_per_month {
            let key = format!("cost_tracking.storage_cost_per_gb_per_month.{key}");
            if !(price.is_finite() && *price >= 0.0) {
                return Err(check.invalid(&key, format!("{price} is not a price")));
            }
        }
        Ok(())
    }
}
