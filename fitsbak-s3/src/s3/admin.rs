//! Object tags, lifecycle rules and bucket facts on S3.

use async_trait::async_trait;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types as s3t;
use fitsbak_core::error::{Result, StoreError, StoreErrorKind};
use fitsbak_core::ids::ObjectKey;
use fitsbak_core::model::Tags;
use fitsbak_core::rules::LifecycleRule;
use fitsbak_core::store::{BucketAdmin, BucketFacts, Versioning};

use super::S3Store;
use super::errors::store_error;
use super::rules::{from_sdk_rule, to_sdk_rule};

fn invalid(operation: &'static str, target: &str, message: impl ToString) -> StoreError {
    StoreError::new(
        StoreErrorKind::InvalidRequest,
        operation,
        target,
        message.to_string(),
    )
}

#[async_trait]
impl BucketAdmin for S3Store {
    async fn get_tags(&self, key: &ObjectKey) -> Result<Tags> {
        let out = self
            .client
            .get_object_tagging()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
            .map_err(|e| store_error("GetObjectTagging", self.target(key.as_str()), e))?;
        Ok(out
            .tag_set()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect())
    }

    async fn put_tags(&self, key: &ObjectKey, tags: &Tags) -> Result<()> {
        let target = self.target(key.as_str());
        let tag_set = tags
            .iter()
            .map(|(k, v)| s3t::Tag::builder().key(k).value(v).build())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| invalid("PutObjectTagging", &target, e))?;
        let tagging = s3t::Tagging::builder()
            .set_tag_set(Some(tag_set))
            .build()
            .map_err(|e| invalid("PutObjectTagging", &target, e))?;
        self.client
            .put_object_tagging()
            .bucket(&self.bucket)
            .key(key.as_str())
            .tagging(tagging)
            .send()
            .await
            .map_err(|e| store_error("PutObjectTagging", target, e))?;
        Ok(())
    }

    async fn lifecycle(&self) -> Result<Vec<LifecycleRule>> {
        match self
            .client
            .get_bucket_lifecycle_configuration()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(out) => {
                let rules: Vec<LifecycleRule> = out.rules().iter().map(from_sdk_rule).collect();
                // Kept as read, so that rules this tool did not write go back to the
                // bucket exactly as they came (fields the core's model lacks too).
                let mut read = self.rules_read.lock().unwrap_or_else(|e| e.into_inner());
                *read = rules
                    .iter()
                    .cloned()
                    .zip(out.rules().iter().cloned())
                    .collect();
                Ok(rules)
            }
            Err(e) if e.code() == Some("NoSuchLifecycleConfiguration") => Ok(Vec::new()),
            Err(e) => {
                Err(store_error("GetBucketLifecycleConfiguration", self.bucket_target(), e).into())
            }
        }
    }

    async fn put_lifecycle(&self, rules: &[LifecycleRule]) -> Result<()> {
        let target = self.bucket_target();
        if rules.is_empty() {
            self.client
                .delete_bucket_lifecycle()
                .bucket(&self.bucket)
                .send()
                .await
                .map_err(|e| store_error("DeleteBucketLifecycle", target, e))?;
            return Ok(());
        }
        let operation = "PutBucketLifecycleConfiguration";
        let read = self
            .rules_read
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let sdk_rules = rules
            .iter()
            .map(|rule| match read.iter().find(|(seen, _)| seen == rule) {
                // Unchanged since it was read: the bucket's own rule, untouched.
                Some((_, original)) => Ok(original.clone()),
                None => to_sdk_rule(rule),
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| invalid(operation, &target, e))?;
        let configuration = s3t::BucketLifecycleConfiguration::builder()
            .set_rules(Some(sdk_rules))
            .build()
            .map_err(|e| invalid(operation, &target, e))?;
        self.client
            .put_bucket_lifecycle_configuration()
            .bucket(&self.bucket)
            .lifecycle_configuration(configuration)
            .send()
            .await
            .map_err(|e| store_error(operation, target, e))?;
        Ok(())
    }

    async fn facts(&self) -> Result<BucketFacts> {
        Ok(BucketFacts {
            // A store that cannot say is a fact too: `None`.
            region: self.bucket_region().await.ok(),
            versioning: self.versioning().await,
            public_access_blocked: self.public_access_blocked().await,
            default_encryption: self.default_encryption().await,
        })
    }
}

impl S3Store {
    fn bucket_target(&self) -> String {
        format!("s3://{}", self.bucket)
    }

    async fn bucket_region(&self) -> Result<String> {
        let location = self
            .client
            .get_bucket_location()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| store_error("GetBucketLocation", self.bucket_target(), e))?;
        // S3 answers an empty location for us-east-1, and `EU` for old eu-west-1
        // buckets.
        Ok(match location.location_constraint().map(|c| c.as_str()) {
            None | Some("") => "us-east-1".to_owned(),
            Some("EU") => "eu-west-1".to_owned(),
            Some(other) => other.to_owned(),
        })
    }

    async fn versioning(&self) -> Option<Versioning> {
        let status = match self
            .client
            .get_bucket_versioning()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(v) => v.status().map(|s| s.as_str().to_owned()),
            // moto answers with a `GetBucketVersioningResponse` root the SDK refuses.
            Err(e) => match super::raw_body(&e) {
                Some(body) if body.contains("GetBucketVersioningResponse") => {
                    parse_versioning_fallback(body)
                }
                // The store cannot say.
                _ => return None,
            },
        };
        Some(Versioning::from_status(status.as_deref()))
    }

    async fn public_access_blocked(&self) -> Option<bool> {
        match self
            .client
            .get_public_access_block()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(out) => out.public_access_block_configuration().map(|c| {
                c.block_public_acls() == Some(true)
                    && c.ignore_public_acls() == Some(true)
                    && c.block_public_policy() == Some(true)
                    && c.restrict_public_buckets() == Some(true)
            }),
            Err(e) => (e.code() == Some("NoSuchPublicAccessBlockConfiguration")).then_some(false),
        }
    }

    async fn default_encryption(&self) -> Option<String> {
        let out = self
            .client
            .get_bucket_encryption()
            .bucket(&self.bucket)
            .send()
            .await
            .ok()?;
        out.server_side_encryption_configuration()?
            .rules()
            .iter()
            .find_map(|r| {
                r.apply_server_side_encryption_by_default()
                    .map(|d| d.sse_algorithm().as_str().to_owned())
            })
    }
}

/// The `Status` of a GetBucketVersioning answer the SDK refused because of its XML
/// root (`GetBucketVersioningResponse`, as moto writes it).
fn parse_versioning_fallback(xml: &str) -> Option<String> {
    if !xml.contains("<GetBucketVersioningResponse") {
        return None;
    }
    super::xml_field(xml, "Status").map(|s| s.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_versioning_answer_with_the_other_root_is_read() {
        let xml = r#"<?xml version="1.0"?><GetBucketVersioningResponse xmlns="x"><Status>Enabled</Status></GetBucketVersioningResponse>"#;
        assert_eq!(parse_versioning_fallback(xml).as_deref(), Some("Enabled"));
        assert_eq!(
            parse_versioning_fallback("<GetBucketVersioningResponse/>"),
            None
        );
        assert_eq!(parse_versioning_fallback("<Error/>"), None);
    }
}
