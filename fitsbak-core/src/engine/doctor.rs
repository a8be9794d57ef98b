//! `fitsbak doctor`: one line per check of the target's health, each with its fix.
//!
//! The checks, each a function of its own: access (credentials and bucket),
//! region, versioning, lifecycle rules (a transition for every tag combination
//! fitsbak writes, multipart clean-up, noncurrent expiry against Deep Archive's
//! minimum), the tracked archives' actual tags, stale multipart uploads, public
//! access, default encryption. On the local target, the checks that apply.

use futures::StreamExt;
use serde::Serialize;

use crate::engine::Engine;
use crate::engine::lifecycle::{DEEP_ARCHIVE_MINIMUM_DAYS, common_prefix, sample_key, transitions};
use crate::error::{Hint, Result, StoreErrorKind};
use crate::ids::ObjectKey;
use crate::model::Tags;
use crate::rules::{LifecycleRule, RuleStatus};
use crate::store::{BucketFacts, ObjectStoreExt, Versioning};

/// How a doctor check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Fine.
    Ok,
    /// Worth fixing.
    Warn,
    /// Broken: backups are at risk.
    Fail,
}

/// One line of `doctor`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DoctorCheck {
    /// What was checked.
    pub check: &'static str,
    /// How it went.
    pub status: Health,
    /// What was found.
    pub message: String,
    /// How to fix it.
    pub fix: Option<String>,
}

/// What `doctor` may do besides looking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DoctorOptions {
    /// Multipart uploads older than this are stale.
    pub stale_days: u32,
    /// Abort the stale ones.
    pub abort_stale: bool,
}

fn check(
    check: &'static str,
    status: Health,
    message: impl Into<String>,
    fix: Option<String>,
) -> DoctorCheck {
    DoctorCheck {
        check,
        status,
        message: message.into(),
        fix,
    }
}

fn describe_tags(tags: &Tags) -> String {
    tags.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Engine {
    /// Checks the target's health.
    pub async fn doctor(&self, options: DoctorOptions) -> Result<Vec<DoctorCheck>> {
        let mut checks = Vec::new();
        let access = self.check_access().await;
        let reachable = access.status != Health::Fail;
        checks.push(access);
        if !reachable {
            return Ok(checks);
        }
        if self.is_local() {
            checks.push(self.check_stale_uploads(options).await?);
            return Ok(checks);
        }
        // A fresh probe: doctor is where a changed store shows.
        let probed = self.probed_capabilities(true).await?;
        let caps = self
            .config
            .pin_capabilities(probed)
            .map_err(crate::error::Error::unusable)?;
        checks.extend(self.check_capabilities(&caps));
        let facts = match self.store.admin() {
            // A store that cannot say is a line above, not a stop.
            Some(admin) => admin.facts().await.unwrap_or_default(),
            None => BucketFacts::default(),
        };
        checks.extend(self.check_region(&facts));
        if caps.versioning {
            checks.push(self.check_versioning(&facts));
        }
        if caps.lifecycle {
            let rules = self.store.try_admin()?.lifecycle().await?;
            checks.extend(self.check_rules(&rules));
            checks.extend(self.check_small_objects().await?);
            if caps.tagging {
                checks.extend(self.check_tracked_tags(&rules).await?);
            }
        }
        if caps.list_multipart_uploads {
            checks.push(self.check_stale_uploads(options).await?);
        }
        checks.extend(self.check_public_access(&facts));
        checks.push(self.check_encryption(&facts));
        Ok(checks)
    }

    /// Objects under 128 KB, which S3 does not transition by default: they stay
    /// in the class they were written in, whatever the rules say.
    async fn check_small_objects(&self) -> Result<Option<DoctorCheck>> {
        let small = crate::engine::costs::MIN_TRANSITION_BYTES;
        let archives = self.target_archives().await?;
        let notes = self.tracker.notes().await?;
        let count = archives
            .iter()
            .filter(|a| a.archive_size_bytes < small)
            .count()
            + notes.iter().filter(|n| n.size_bytes < small).count();
        Ok((count > 0).then(|| {
            check(
                "small objects",
                Health::Warn,
                format!(
                    "{count} tracked object(s) (and every manifest) are under 128 KB: since \
                     September 2024 S3 does not transition objects that small by default, so \
                     they stay in the class they were written in (estimate-costs counts them so)"
                ),
                Some(
                    "nothing to do for notes and manifests (cents a year); write small archives \
                     with their final storage_class if that matters"
                        .into(),
                ),
            )
        }))
    }

    /// What the store can do: one line of what it offers, one warning per thing
    /// it lacks, saying what that means.
    fn check_capabilities(&self, caps: &crate::store::Capabilities) -> Vec<DoctorCheck> {
        let table = caps.table();
        let offered: Vec<&str> = table.iter().filter(|r| r.1).map(|r| r.0).collect();
        let mut lines = vec![check(
            "store",
            Health::Ok,
            format!(
                "{} offers: {}",
                self.store.describe(),
                if offered.is_empty() {
                    "none of what fitsbak asks about".to_owned()
                } else {
                    offered.join(", ")
                }
            ),
            None,
        )];
        for (name, _, meaning) in table.iter().filter(|r| !r.1) {
            lines.push(check(
                "store",
                Health::Warn,
                format!("no {name}: {meaning}"),
                None,
            ));
        }
        for note in caps.notes.iter().chain(&self.store.transport_notes()) {
            lines.push(check("store", Health::Warn, note.clone(), None));
        }
        lines
    }

    pub async fn check_access(&self) -> DoctorCheck {
        let prefix = common_prefix(&self.config);
        let bucket = self.store.bucket();
        match self.store.list(&prefix).await {
            Ok(objects) => check(
                "access",
                Health::Ok,
                format!(
                    "{} is {} ({} object(s) below {prefix:?})",
                    self.store.describe(),
                    if self.is_local() {
                        "readable"
                    } else {
                        "reachable with these credentials"
                    },
                    objects.len()
                ),
                None,
            ),
            Err(e) => {
                let fix = match e.store_kind() {
                    Some(StoreErrorKind::Credentials) => "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run `aws sso login`".to_owned(),
                    Some(StoreErrorKind::NoSuchBucket) => format!("create it (`aws s3 mb s3://{bucket} --region {}`) or fix buckets.primary", self.config.aws_region),
                    Some(StoreErrorKind::AccessDenied) => "grant the IAM actions listed in the README to these credentials".to_owned(),
                    _ => "check endpoint_url and the network".to_owned(),
                };
                check("access", Health::Fail, e.to_string(), Some(fix))
            }
        }
    }

    fn check_region(&self, facts: &BucketFacts) -> Option<DoctorCheck> {
        let bucket = self.store.bucket();
        let region = facts.region.as_ref()?;
        // The region requests are signed for: the config's, or the profile's.
        let asked = self.store.region();
        Some(if *region != asked {
            check(
                "region",
                // S3-compatible stores name their regions their own way (Ceph:
                // its zonegroup) and sign with any: worth a look, not a failure.
                if self.config.endpoint_url.is_some() {
                    Health::Warn
                } else {
                    Health::Fail
                },
                format!("{bucket} is in {region}, requests are signed for {asked}"),
                Some(format!("set aws_region to \"{region}\"")),
            )
        } else {
            check(
                "region",
                Health::Ok,
                format!("{bucket} is in {region}"),
                None,
            )
        })
    }

    fn check_versioning(&self, facts: &BucketFacts) -> DoctorCheck {
        let bucket = self.store.bucket();
        match facts.versioning {
            Some(Versioning::Enabled) => {
                check("versioning", Health::Ok, "versioning is enabled", None)
            }
            other => check(
                "versioning",
                Health::Warn,
                format!(
                    "versioning is {}: an archive overwritten or deleted by mistake cannot be recovered",
                    other.unwrap_or(Versioning::Off)
                ),
                Some(format!(
                    "aws s3api put-bucket-versioning --bucket {bucket} --versioning-configuration Status=Enabled"
                )),
            ),
        }
    }

    /// The bucket's rules: a transition for every tag combination fitsbak writes,
    /// a multipart clean-up, no noncurrent expiry shorter than Deep Archive's
    /// minimum on fitsbak's objects.
    fn check_rules(&self, rules: &[LifecycleRule]) -> Vec<DoctorCheck> {
        if rules.is_empty() {
            return vec![check(
                "lifecycle",
                Health::Fail,
                "the bucket has no lifecycle rules: archives stay in STANDARD (23x the Deep Archive price)",
                Some(self.hints.text(&Hint::ApplyLifecycle)),
            )];
        }
        let mut checks = vec![self.check_transitions(rules)];
        if !rules.iter().any(|r| {
            r.status == RuleStatus::Enabled && r.abort_incomplete_multipart_upload.is_some()
        }) {
            checks.push(check(
                "multipart clean-up",
                Health::Warn,
                "no rule aborts incomplete multipart uploads: their parts are billed until aborted",
                Some(self.hints.text(&Hint::ApplyLifecycle)),
            ));
        }
        checks.extend(rules.iter().filter_map(|r| self.check_noncurrent_expiry(r)));
        checks
    }

    fn check_transitions(&self, rules: &[LifecycleRule]) -> DoctorCheck {
        let unmatched: Vec<String> = self
            .config
            .tagged_kinds()
            .into_iter()
            .filter(|(kind, tags)| !transitions(rules, &sample_key(&self.config, *kind), tags))
            .map(|(kind, tags)| format!("{kind:?} ({})", describe_tags(&tags)))
            .collect();
        if unmatched.is_empty() {
            return check(
                "lifecycle",
                Health::Ok,
                "a transition rule matches every tag combination fitsbak writes",
                None,
            );
        }
        check(
            "lifecycle",
            Health::Fail,
            format!(
                "no transition rule matches {}: those objects would stay in STANDARD",
                unmatched.join(", ")
            ),
            Some(self.hints.text(&Hint::ApplyLifecycle)),
        )
    }

    fn check_noncurrent_expiry(&self, rule: &LifecycleRule) -> Option<DoctorCheck> {
        let expiry = rule.noncurrent_version_expiration.as_ref()?;
        let ours = self
            .config
            .tagged_kinds()
            .iter()
            .any(|(kind, tags)| rule.filter.matches(&sample_key(&self.config, *kind), tags));
        (rule.status == RuleStatus::Enabled && expiry.noncurrent_days < DEEP_ARCHIVE_MINIMUM_DAYS && ours).then(|| {
            check(
                "noncurrent expiry",
                Health::Warn,
                format!(
                    "rule {} deletes noncurrent versions after {} days; Deep Archive bills {DEEP_ARCHIVE_MINIMUM_DAYS} days at least (early deletion charges)",
                    rule.id, expiry.noncurrent_days
                ),
                Some(format!("raise NoncurrentDays of rule {} to {DEEP_ARCHIVE_MINIMUM_DAYS} or more", rule.id)),
            )
        })
    }

    /// Tracked archives whose actual tags no rule matches.
    async fn check_tracked_tags(&self, rules: &[LifecycleRule]) -> Result<Option<DoctorCheck>> {
        let archives = self.target_archives().await?;
        if archives.is_empty() {
            return Ok(None);
        }
        let looked: Vec<(String, Option<Tags>)> =
            futures::stream::iter(archives.iter().map(|a| a.key.clone()))
                .map(|key| async move {
                    let tags = match (ObjectKey::new(key.clone()), self.store.admin()) {
                        (Ok(k), Some(admin)) => admin.get_tags(&k).await.ok(),
                        _ => None,
                    };
                    (key, tags)
                })
                .buffer_unordered(16)
                .collect()
                .await;
        let stranded: Vec<String> = looked
            .iter()
            .filter_map(|(key, tags)| {
                let tags = tags.as_ref()?;
                (!transitions(rules, key, tags)).then(|| format!("{key} ({})", describe_tags(tags)))
            })
            .collect();
        Ok(Some(if stranded.is_empty() {
            check(
                "tracked objects",
                Health::Ok,
                format!(
                    "every one of {} tracked archive(s) is matched by a transition rule",
                    archives.len()
                ),
                None,
            )
        } else {
            check(
                "tracked objects",
                Health::Fail,
                format!(
                    "{} tracked archive(s) match no transition rule and would stay in STANDARD: {}",
                    stranded.len(),
                    stranded
                        .iter()
                        .take(10)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                Some(format!(
                    "{}, or fix the objects' tags",
                    self.hints.text(&Hint::ApplyLifecycle)
                )),
            )
        }))
    }

    /// Incomplete multipart uploads older than `stale_days`, aborted when asked.
    async fn check_stale_uploads(&self, options: DoctorOptions) -> Result<DoctorCheck> {
        let cutoff = crate::time::now() - chrono::Duration::days(i64::from(options.stale_days));
        let listed = match self.store.try_multipart() {
            Ok(multipart) => {
                multipart
                    .list_multipart_uploads(&common_prefix(&self.config))
                    .await
            }
            Err(e) => Err(e),
        };
        let listed = match listed {
            Ok(listed) => listed,
            Err(e) if e.store_kind() == Some(StoreErrorKind::NotImplemented) => {
                return Ok(check(
                    "stale uploads",
                    Health::Warn,
                    format!("the store cannot list incomplete multipart uploads ({e})"),
                    Some("rely on the lifecycle rule's AbortIncompleteMultipartUpload, or the store's own expiry".into()),
                ));
            }
            Err(e) => return Err(e),
        };
        let stale: Vec<_> = listed
            .into_iter()
            .filter(|u| u.initiated.is_some_and(|t| t < cutoff))
            .collect();
        let days = options.stale_days;
        if stale.is_empty() {
            let message = format!("no incomplete multipart upload older than {days} day(s)");
            return Ok(check("stale uploads", Health::Ok, message, None));
        }
        let keys = stale
            .iter()
            .map(|u| u.key.clone())
            .collect::<Vec<_>>()
            .join(", ");
        if !options.abort_stale {
            return Ok(check(
                "stale uploads",
                Health::Warn,
                format!(
                    "{} incomplete multipart upload(s) older than {days} day(s), their parts billed: {keys}",
                    stale.len()
                ),
                Some(self.hints.text(&Hint::AbortStale)),
            ));
        }
        for u in &stale {
            let key = ObjectKey::new(u.key.clone())?;
            self.store
                .try_multipart()?
                .abort_multipart(&key, &u.upload_id)
                .await?;
            self.tracker.end_upload(&u.upload_id).await?;
        }
        Ok(check(
            "stale uploads",
            Health::Ok,
            format!(
                "aborted {} incomplete multipart upload(s) older than {days} day(s): {keys}",
                stale.len()
            ),
            None,
        ))
    }

    fn check_public_access(&self, facts: &BucketFacts) -> Option<DoctorCheck> {
        let bucket = self.store.bucket();
        Some(if facts.public_access_blocked? {
            check(
                "public access",
                Health::Ok,
                "public access is blocked",
                None,
            )
        } else {
            check(
                "public access",
                Health::Warn,
                "public access is not blocked",
                Some(format!(
                    "aws s3api put-public-access-block --bucket {bucket} --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true"
                )),
            )
        })
    }

    fn check_encryption(&self, facts: &BucketFacts) -> DoctorCheck {
        let bucket = self.store.bucket();
        match &facts.default_encryption {
            Some(alg) => check(
                "encryption",
                Health::Ok,
                format!("default encryption: {alg}"),
                None,
            ),
            None if self.config.upload_settings.server_side_encryption.is_some() => check(
                "encryption",
                Health::Ok,
                "no default encryption, but fitsbak asks for server-side encryption on every upload",
                None,
            ),
            None => check(
                "encryption",
                Health::Warn,
                "the bucket has no default encryption",
                Some(format!(
                    "aws s3api put-bucket-encryption --bucket {bucket} --server-side-encryption-configuration '{{\"Rules\":[{{\"ApplyServerSideEncryptionByDefault\":{{\"SSEAlgorithm\":\"AES256\"}}}}]}}'"
                )),
            ),
        }
    }
}
