//! The S3 transport: one aws-sdk-s3 request per trait method, against AWS or any
//! S3-compatible endpoint.
//!
//! Requests carry the checksum the engine computed (`x-amz-checksum-crc32c` or
//! `Content-MD5`) and are not payload-signed: the checksum protects the bytes, and
//! hashing every byte again with SHA-256 for the signature would double the CPU an
//! upload costs. The SDK's own request checksums are off (some S3-compatible stores
//! refuse its CRC32 trailer) and so are its retries: the engine's retry layer retries
//! with the config's backoff.
//!
//! `errors` classifies every SDK failure; `multipart`, `cold` and `admin` hold the
//! store traits beyond the basic one; `rules` converts lifecycle rules.

mod admin;
mod cold;
mod errors;
mod multipart;
mod rules;

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    StalledStreamProtectionConfig,
};
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{self as s3t, ChecksumMode};
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use chrono::{DateTime, Utc};
use fitsbak_core::config::{Config, ConfigError};
use fitsbak_core::error::{Result, StoreError, StoreErrorKind};
use fitsbak_core::ids::ObjectKey;
use fitsbak_core::model::{StorageClass, Tags};
use fitsbak_core::store::{
    Checksum, ChecksumKind, DeleteOptions, Encryption, GetOptions, GetResult, Location,
    ObjectChecksum, ObjectMeta, ObjectStore, ObjectSummary, Payload, PutOptions, PutResult,
    RestoreState,
};
use futures::StreamExt;

use errors::store_error;

/// Where the bucket is and how to reach it.
#[derive(Debug, Clone, PartialEq)]
pub struct S3Settings {
    /// The bucket.
    pub bucket: String,
    /// Its region.
    pub region: String,
    /// An S3-compatible endpoint, when not AWS.
    pub endpoint_url: Option<String>,
    /// Path-style addressing.
    pub force_path_style: bool,
    /// Longest one request attempt may take.
    pub request_timeout: Duration,
    /// Take the region from the AWS profile or `AWS_REGION` (the config names
    /// none); `region` when they do not say either.
    pub region_from_environment: bool,
}

impl S3Settings {
    /// The settings of the config's S3 target.
    pub fn from_config(config: &Config) -> std::result::Result<Self, ConfigError> {
        Ok(Self {
            bucket: config.bucket()?.to_owned(),
            region: config.aws_region.clone(),
            endpoint_url: config.endpoint_url.clone(),
            force_path_style: config.force_path_style,
            request_timeout: Duration::from_secs_f64(config.retry_settings.request_timeout_seconds),
            region_from_environment: !config.aws_region_set,
        })
    }
}

/// An S3 bucket.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    location: Location,
    /// Whether HEAD sends `x-amz-checksum-mode: ENABLED`: some stores refuse the
    /// header (Backblaze B2: "Unsupported header"); the first refusal turns it off.
    checksum_mode: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// How long a request without a body may take.
    request_timeout: Duration,
    /// The lifecycle rules last read, in the core's shape and as the SDK gave them.
    rules_read: std::sync::Arc<
        std::sync::Mutex<Vec<(fitsbak_core::rules::LifecycleRule, s3t::LifecycleRule)>>,
    >,
}

impl S3Store {
    /// Connects with the standard AWS credential chain (environment, profiles, SSO,
    /// instance roles).
    pub async fn connect(settings: &S3Settings) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if !settings.region_from_environment {
            loader = loader.region(Region::new(settings.region.clone()));
        }
        let shared = loader.load().await;
        let mut settings = settings.clone();
        if let Some(region) = shared.region() {
            settings.region = region.to_string();
        }
        let builder =
            aws_sdk_s3::config::Builder::from(&shared).region(Region::new(settings.region.clone()));
        Self::build(builder, &settings)
    }

    /// Connects with the given credentials provider instead of the standard chain.
    pub fn with_credentials(
        settings: &S3Settings,
        credentials: impl aws_sdk_s3::config::ProvideCredentials + 'static,
    ) -> Self {
        let builder = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(settings.region.clone()))
            .credentials_provider(credentials);
        Self::build(builder, settings)
    }

    fn build(builder: aws_sdk_s3::config::Builder, settings: &S3Settings) -> Self {
        let mut builder = builder
            .force_path_style(settings.force_path_style)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .retry_config(RetryConfig::disabled())
            .stalled_stream_protection(
                StalledStreamProtectionConfig::enabled()
                    .grace_period(Duration::from_secs(30))
                    .build(),
            )
            // A connection must open within seconds; a request without a body
            // must be answered within `request_timeout`. A request with a body gets
            // that plus the time its bytes take at 16 KiB/s (see `body_override`),
            // and a body that stops moving for 30 s is cut by the stalled stream
            // protection above: a slow uplink takes as long as it needs, a dead
            // one is found in seconds.
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .operation_attempt_timeout(settings.request_timeout)
                    .build(),
            );
        if let Some(url) = &settings.endpoint_url {
            builder = builder.endpoint_url(url);
        }
        let description = match &settings.endpoint_url {
            Some(url) => format!("s3://{} at {url}", settings.bucket),
            None => format!("s3://{} ({})", settings.bucket, settings.region),
        };
        Self {
            client: Client::from_conf(builder.build()),
            bucket: settings.bucket.clone(),
            location: Location {
                description,
                bucket: settings.bucket.clone(),
                region: settings.region.clone(),
            },
            checksum_mode: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)),
            request_timeout: settings.request_timeout,
            rules_read: Default::default(),
        }
    }

    /// The timeouts of a request carrying `len` bytes: the attempt may take the
    /// request timeout plus the bytes' time at 16 KiB/s (a stalled body is cut
    /// sooner by the stalled stream protection).
    fn body_override(&self, len: usize) -> aws_sdk_s3::config::Builder {
        const SLOWEST: f64 = 16.0 * 1024.0;
        let attempt = self.request_timeout + Duration::from_secs_f64(len as f64 / SLOWEST);
        aws_sdk_s3::config::Builder::new().timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_attempt_timeout(attempt)
                .build(),
        )
    }

    /// The SDK client, for requests the traits do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn target(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// The metadata of a GET answer.
    fn get_meta(
        key: &ObjectKey,
        out: &aws_sdk_s3::operation::get_object::GetObjectOutput,
    ) -> ObjectMeta {
        let length = out.content_length().unwrap_or_default().max(0) as u64;
        let size = out
            .content_range()
            .and_then(|r| r.rsplit('/').next())
            .and_then(|t| t.parse().ok())
            .unwrap_or(length);
        object_meta!(out, key, size, None)
    }

    /// An empty range: no bytes to fetch, but the object must be there.
    async fn empty_get(&self, key: &ObjectKey, at: u64) -> Result<GetResult> {
        let meta = self.head(key).await?.ok_or_else(|| {
            StoreError::new(
                StoreErrorKind::NotFound,
                "GetObject",
                self.target(key.as_str()),
                "NoSuchKey",
            )
        })?;
        let at = at.min(meta.size);
        Ok(GetResult {
            meta,
            range: at..at,
            body: futures::stream::empty().boxed(),
        })
    }
}

/// The metadata of a GET or HEAD answer (two SDK types with the same accessors).
macro_rules! object_meta {
    ($out:expr, $key:expr, $size:expr, $checksum:expr) => {
        ObjectMeta {
            key: $key.clone(),
            size: $size,
            etag: trim_etag($out.e_tag()),
            last_modified: time($out.last_modified()),
            storage_class: class_of($out.storage_class()),
            restore: $out.restore().and_then(parse_restore),
            version_id: $out.version_id().map(str::to_owned),
            metadata: $out
                .metadata()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            checksum: $checksum,
        }
    };
}
use object_meta;

/// The algorithm header and value headers of a request checksum.
type ChecksumHeaders = (
    Option<s3t::ChecksumAlgorithm>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// `(x-amz-sdk-checksum-algorithm, Content-MD5, x-amz-checksum-crc32c,
/// x-amz-checksum-crc64nvme)` for a body's checksums.
fn checksum_headers(payload: &Payload) -> ChecksumHeaders {
    let md5 = payload.md5().map(|d| Checksum::Md5(d).to_base64());
    match payload.checksum {
        Some(c @ Checksum::Crc32c(_)) => (
            Some(s3t::ChecksumAlgorithm::Crc32C),
            md5,
            Some(c.to_base64()),
            None,
        ),
        Some(c @ Checksum::Crc64Nvme(_)) => (
            Some(s3t::ChecksumAlgorithm::Crc64Nvme),
            md5,
            None,
            Some(c.to_base64()),
        ),
        Some(Checksum::Md5(_)) | None => (None, md5, None, None),
    }
}

/// The SDK's name of a checksum algorithm.
fn sdk_checksum(kind: ChecksumKind) -> s3t::ChecksumAlgorithm {
    s3t::ChecksumAlgorithm::from(kind.as_str())
}

/// `(x-amz-server-side-encryption, x-amz-server-side-encryption-aws-kms-key-id)`.
fn sdk_encryption(options: &PutOptions) -> (Option<s3t::ServerSideEncryption>, Option<String>) {
    match &options.encryption {
        Some(Encryption::Aes256) => (Some(s3t::ServerSideEncryption::Aes256), None),
        Some(Encryption::Kms { key_id }) => {
            (Some(s3t::ServerSideEncryption::AwsKms), key_id.clone())
        }
        None => (None, None),
    }
}

/// The body of an error answer, when the SDK kept it.
fn raw_body<E>(err: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<&str> {
    err.raw_response()
        .and_then(|r| r.body().bytes())
        .and_then(|b| std::str::from_utf8(b).ok())
}

/// The text of the first `<tag>...</tag>` in `xml`.
fn xml_field(xml: &str, tag: &str) -> Option<String> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(xml[start..end].to_owned())
}

fn trim_etag(etag: Option<&str>) -> String {
    etag.unwrap_or_default().trim_matches('"').to_owned()
}

fn sdk_class(class: &StorageClass) -> s3t::StorageClass {
    s3t::StorageClass::from(class.as_str())
}

fn class_of(class: Option<&s3t::StorageClass>) -> StorageClass {
    class.map_or(StorageClass::Standard, |c| StorageClass::parse(c.as_str()))
}

fn encode_tags(tags: &Tags) -> String {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    tags.iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, NON_ALPHANUMERIC),
                utf8_percent_encode(v, NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn checksum_of(kind: ChecksumKind, value: Option<&str>) -> Option<ObjectChecksum> {
    value.map(|v| ObjectChecksum {
        kind,
        value: v.to_owned(),
    })
}

fn time(t: Option<&aws_smithy_types::DateTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

/// Parses `x-amz-restore`: `ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"`.
pub fn parse_restore(header: &str) -> Option<RestoreState> {
    if header.contains("ongoing-request=\"true\"") {
        return Some(RestoreState::InProgress);
    }
    if header.contains("ongoing-request=\"false\"") {
        let expires = header
            .split("expiry-date=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .and_then(|d| DateTime::parse_from_rfc2822(d).ok())
            .map(|d| d.with_timezone(&Utc));
        return Some(RestoreState::Available { expires });
    }
    None
}

#[async_trait]
impl ObjectStore for S3Store {
    fn location(&self) -> &Location {
        &self.location
    }

    async fn put_opts(
        &self,
        key: &ObjectKey,
        payload: Payload,
        options: &PutOptions,
    ) -> Result<PutResult> {
        let (algorithm, md5, crc32c, crc64) = checksum_headers(&payload);
        let (sse, kms_key) = sdk_encryption(options);
        let len = payload.len();
        let out = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_length(payload.len() as i64)
            .body(ByteStream::from(payload.bytes))
            .storage_class(sdk_class(&options.storage_class))
            .set_metadata(Some(options.metadata.clone().into_iter().collect()))
            .set_content_type(options.content_type.clone())
            .set_tagging((!options.tags.is_empty()).then(|| encode_tags(&options.tags)))
            .set_checksum_algorithm(algorithm)
            .set_content_md5(md5)
            .set_checksum_crc32_c(crc32c)
            .set_checksum_crc64_nvme(crc64)
            .set_server_side_encryption(sse)
            .set_ssekms_key_id(kms_key)
            .set_if_none_match(options.if_none_match.then(|| "*".to_owned()))
            .customize()
            .config_override(self.body_override(len))
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| store_error("PutObject", self.target(key.as_str()), e))?;
        Ok(PutResult {
            etag: trim_etag(out.e_tag()),
            version_id: out.version_id().map(str::to_owned),
            checksum: checksum_of(ChecksumKind::Crc32c, out.checksum_crc32_c())
                .or_else(|| checksum_of(ChecksumKind::Crc64Nvme, out.checksum_crc64_nvme())),
        })
    }

    async fn get_opts(&self, key: &ObjectKey, options: &GetOptions) -> Result<GetResult> {
        if let Some(range) = options.range.as_ref().filter(|r| r.end <= r.start) {
            return self.empty_get(key, range.start).await;
        }
        let target = self.target(key.as_str());
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .set_version_id(options.version_id.clone())
            .set_range(
                options
                    .range
                    .as_ref()
                    .map(|r| format!("bytes={}-{}", r.start, r.end - 1)),
            )
            .send()
            .await
            .map_err(|e| store_error("GetObject", target.clone(), e))?;
        let meta = Self::get_meta(key, &out);
        let length = out.content_length().unwrap_or_default().max(0) as u64;
        let start = options.range.as_ref().map_or(0, |r| r.start);
        let body = futures::stream::unfold(Some(out.body), move |body| {
            let target = target.clone();
            async move {
                let mut body = body?;
                match body.next().await {
                    Some(Ok(bytes)) => Some((Ok(bytes), Some(body))),
                    Some(Err(e)) => Some((
                        Err(StoreError::new(
                            StoreErrorKind::Network,
                            "GetObject",
                            target,
                            format!("reading the body: {}", DisplayErrorContext(&e)),
                        )
                        .into()),
                        None,
                    )),
                    None => None,
                }
            }
        })
        .boxed();
        Ok(GetResult {
            meta,
            range: start..start + length,
            body,
        })
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>> {
        use std::sync::atomic::Ordering::Relaxed;
        let send = |mode: bool| {
            self.client
                .head_object()
                .bucket(&self.bucket)
                .key(key.as_str())
                .set_checksum_mode(mode.then_some(ChecksumMode::Enabled))
                .send()
        };
        let mode = self.checksum_mode.load(Relaxed);
        let mut answer = send(mode).await;
        if mode
            && matches!(&answer, Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 400))
        {
            // A HEAD of an object is never a bad request but for a header.
            let again = send(false).await;
            if again.is_ok() {
                self.checksum_mode.store(false, Relaxed);
            }
            answer = again;
        }
        let out = match answer {
            Ok(out) => out,
            Err(e) => {
                let err = store_error("HeadObject", self.target(key.as_str()), e);
                return if err.kind == StoreErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(err.into())
                };
            }
        };
        let size = out.content_length().unwrap_or_default().max(0) as u64;
        let checksum = checksum_of(ChecksumKind::Crc32c, out.checksum_crc32_c())
            .or_else(|| checksum_of(ChecksumKind::Crc64Nvme, out.checksum_crc64_nvme()));
        Ok(Some(object_meta!(out, key, size, checksum)))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectSummary>> {
        let mut objects = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| store_error("ListObjectsV2", self.target(prefix), e))?;
            for o in page.contents() {
                objects.push(ObjectSummary {
                    key: o.key().unwrap_or_default().to_owned(),
                    size: o.size().unwrap_or_default().max(0) as u64,
                    etag: o.e_tag().map(|e| trim_etag(Some(e))),
                    last_modified: time(o.last_modified()),
                    storage_class: o
                        .storage_class()
                        .map_or(StorageClass::Standard, |c| StorageClass::parse(c.as_str())),
                });
            }
        }
        Ok(objects)
    }

    async fn delete_opts(&self, key: &ObjectKey, options: &DeleteOptions) -> Result<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .set_version_id(options.version_id.clone())
            .send()
            .await
            .map_err(|e| store_error("DeleteObject", self.target(key.as_str()), e))?;
        Ok(())
    }

    fitsbak_core::offers_every_capability!();

    fn transport_notes(&self) -> Vec<String> {
        if self
            .checksum_mode
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            Vec::new()
        } else {
            vec!["HEAD is sent without x-amz-checksum-mode: the store refused the header".into()]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_headers_parse() {
        assert_eq!(
            parse_restore("ongoing-request=\"true\""),
            Some(RestoreState::InProgress)
        );
        let available = parse_restore(
            "ongoing-request=\"false\", expiry-date=\"Fri, 21 Dec 2012 00:00:00 GMT\"",
        );
        assert_eq!(
            available,
            Some(RestoreState::Available {
                expires: DateTime::from_timestamp(1_356_048_000, 0)
            })
        );
        assert_eq!(parse_restore("junk"), None);
    }

    #[test]
    fn tags_are_url_encoded() {
        let mut tags = Tags::new();
        tags.insert("archive".into(), "fast".into());
        tags.insert("a b".into(), "x&y=z".into());
        assert_eq!(encode_tags(&tags), "a%20b=x%26y%3Dz&archive=fast");
    }

    #[test]
    fn checksums_go_in_their_own_headers() {
        let payload = Payload::new(Vec::new(), Some(Checksum::Crc32c(1)));
        let (algorithm, md5, crc, _) = checksum_headers(&payload);
        assert_eq!(algorithm, Some(s3t::ChecksumAlgorithm::Crc32C));
        assert_eq!((md5, crc.as_deref()), (None, Some("AAAAAQ==")));
        let payload = Payload::new(Vec::new(), Some(Checksum::Md5([0; 16])));
        let (algorithm, md5, crc, _) = checksum_headers(&payload);
        assert_eq!((algorithm, crc), (None, None));
        assert_eq!(md5.as_deref(), Some("AAAAAAAAAAAAAAAAAAAAAA=="));
        let both = Payload::new(Vec::new(), Some(Checksum::Crc32c(1))).with_md5(Some([0; 16]));
        let (_, md5, crc, _) = checksum_headers(&both);
        assert_eq!(md5.as_deref(), Some("AAAAAAAAAAAAAAAAAAAAAA=="));
        assert_eq!(crc.as_deref(), Some("AAAAAQ=="));
    }
}
