//! The S3 transport: one aws-sdk-s3 request per trait method, against AWS or any
//! S3-compatible endpoint.
//!
//! Requests carry the checksum the engine computed (`x-amz-checksum-crc32c` or
//! `Content-MD5`) and are not payload-signed: the checksum protects the bytes, and
//! hashing every byte again with SHA-256 for the signature would double the CPU an
//! upload costs. The SDK's own request checksums are off (some S3-compatible stores
//! refuse its CRC32 trailer) and so are its retries: the engine's retry layer retries
//! with the config's backoff.

use std::ops::Range;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    StalledStreamProtectionConfig,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{self as s3t, ChecksumAlgorithm, ChecksumMode};
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use fitsbak_core::config::{Config, ConfigError};
use fitsbak_core::error::{Result, StoreError, StoreErrorKind};
use fitsbak_core::ids::ObjectKey;
use fitsbak_core::lifecycle::LifecycleRule;
use fitsbak_core::model::{StorageClass, Tags};
use fitsbak_core::store::{
    BucketFacts, Checksum, Encryption, GetResult, MultipartId, MultipartUploadInfo, ObjectChecksum,
    ObjectMeta, ObjectStore, ObjectSummary, ObjectVersion, PartReceipt, PutOptions, PutResult,
    RestoreState, RestoreTier,
};
use futures::StreamExt;

use crate::lifecycle::{from_sdk_rule, to_sdk_rule};

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
        })
    }
}

/// An S3 bucket.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    region: String,
    endpoint: Option<String>,
}

impl S3Store {
    /// GET of the object (one version of it), whole or a range.
    async fn get_object(
        &self,
        key: &ObjectKey,
        range: Option<Range<u64>>,
        version_id: Option<String>,
    ) -> Result<GetResult> {
        let target = self.target(key.as_str());
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .set_version_id(version_id)
            .set_range(
                range
                    .clone()
                    .filter(|r| r.end > r.start)
                    .map(|r| format!("bytes={}-{}", r.start, r.end - 1)),
            )
            .send()
            .await
            .map_err(|e| store_error("GetObject", target.clone(), e))?;
        let length = out.content_length().unwrap_or_default().max(0) as u64;
        let start = range.as_ref().map_or(0, |r| r.start);
        let total = out
            .content_range()
            .and_then(|r| r.rsplit('/').next())
            .and_then(|t| t.parse().ok())
            .unwrap_or(length);
        let meta = ObjectMeta {
            key: key.clone(),
            size: total,
            etag: trim_etag(out.e_tag()),
            last_modified: time(out.last_modified()),
            storage_class: out
                .storage_class()
                .map_or(StorageClass::Standard, |c| StorageClass::parse(c.as_str())),
            restore: out.restore().and_then(parse_restore),
            version_id: out.version_id().map(str::to_owned),
            metadata: out
                .metadata()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            checksum: None,
        };
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

    /// Connects with the standard AWS credential chain (environment, profiles, SSO,
    /// instance roles).
    pub async fn connect(settings: &S3Settings) -> Self {
        let shared = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(settings.region.clone()))
            .load()
            .await;
        Self::build(aws_sdk_s3::config::Builder::from(&shared), settings)
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
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(15))
                    .operation_attempt_timeout(settings.request_timeout)
                    .build(),
            );
        if let Some(url) = &settings.endpoint_url {
            builder = builder.endpoint_url(url);
        }
        Self {
            client: Client::from_conf(builder.build()),
            bucket: settings.bucket.clone(),
            region: settings.region.clone(),
            endpoint: settings.endpoint_url.clone(),
        }
    }

    /// The SDK client, for requests the trait does not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn target(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

/// Reads a ListParts answer the SDK refused because its XML root is
/// `ListPartsResponse` (as moto 5.2.5 writes it) instead of `ListPartsResult`:
/// the parts, and the next marker when the listing is truncated.
fn parse_list_parts_fallback(xml: &str) -> Option<(Vec<PartReceipt>, Option<String>)> {
    if !xml.contains("<ListPartsResponse") {
        return None;
    }
    let field = |block: &str, tag: &str| -> Option<String> {
        let start = block.find(&format!("<{tag}>"))? + tag.len() + 2;
        let end = block[start..].find(&format!("</{tag}>"))? + start;
        Some(block[start..end].to_owned())
    };
    let parts = xml
        .split("<Part>")
        .skip(1)
        .map(|block| {
            let block = block.split("</Part>").next().unwrap_or(block);
            Some(PartReceipt {
                part_number: field(block, "PartNumber")?.parse().ok()?,
                etag: field(block, "ETag")?
                    .replace("&quot;", "")
                    .trim_matches('"')
                    .to_owned(),
                size: field(block, "Size")?.parse().ok()?,
                checksum: field(block, "ChecksumCRC32C"),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let truncated = field(xml, "IsTruncated").is_some_and(|t| t == "true");
    let next = truncated
        .then(|| field(xml, "NextPartNumberMarker"))
        .flatten();
    Some((parts, next))
}

/// The `Status` of a GetBucketVersioning answer the SDK refused because of its XML
/// root (`GetBucketVersioningResponse`, as moto writes it).
fn parse_versioning_fallback(xml: &str) -> Option<String> {
    if !xml.contains("<GetBucketVersioningResponse") {
        return None;
    }
    let start = xml.find("<Status>")? + "<Status>".len();
    let end = xml[start..].find("</Status>")? + start;
    Some(xml[start..end].trim().to_owned())
}

/// Maps an SDK failure to a store error naming the operation and the target.
fn store_error<E>(
    operation: &'static str,
    target: String,
    err: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use StoreErrorKind::*;
    let (kind, message) = match &err {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let code = service.err().code().unwrap_or_default().to_owned();
            let text = service.err().message().unwrap_or_default().to_owned();
            let kind = match code.as_str() {
                "NoSuchBucket" => NoSuchBucket,
                "NoSuchKey" | "NotFound" | "NoSuchVersion" => NotFound,
                "NoSuchUpload" => NoSuchUpload,
                "InvalidAccessKeyId"
                | "SignatureDoesNotMatch"
                | "ExpiredToken"
                | "InvalidToken"
                | "TokenRefreshRequired"
                | "InvalidSecurity" => Credentials,
                "AccessDenied" | "AllAccessDisabled" | "AccountProblem" => AccessDenied,
                "InvalidObjectState" => NeedsRestore,
                "RestoreAlreadyInProgress" => RestoreInProgress,
                "PreconditionFailed" | "ConditionalRequestConflict" => PreconditionFailed,
                "BadDigest" | "InvalidDigest" | "XAmzContentSHA256Mismatch" | "InvalidChecksum" => {
                    Integrity
                }
                "SlowDown" | "ServiceUnavailable" | "InternalError" | "RequestTimeout"
                | "OperationAborted" => Throttled,
                "NotImplemented" => NotImplemented,
                _ => match status {
                    404 => NotFound,
                    403 => AccessDenied,
                    500..=599 => Throttled,
                    400..=499 => InvalidRequest,
                    _ => Other,
                },
            };
            let message = match (code.is_empty(), text.is_empty()) {
                (false, false) => format!("{code}: {text}"),
                (false, true) => code,
                _ => format!("HTTP {status}"),
            };
            (kind, message)
        }
        SdkError::TimeoutError(_) => (Network, "the request timed out".to_owned()),
        SdkError::ResponseError(_) => (Network, DisplayErrorContext(&err).to_string()),
        SdkError::DispatchFailure(dispatch) => {
            let text = DisplayErrorContext(&err).to_string();
            if !dispatch.is_io() && !dispatch.is_timeout() && text.contains("credential") {
                (Credentials, no_credentials_message(&text))
            } else {
                (Network, text)
            }
        }
        _ => {
            let text = DisplayErrorContext(&err).to_string();
            if text.contains("credential") {
                (Credentials, no_credentials_message(&text))
            } else {
                (InvalidRequest, text)
            }
        }
    };
    let message = match kind {
        Credentials if !message.contains("AWS_PROFILE") => format!(
            "{message} (the AWS credentials were refused: check AWS_PROFILE, AWS_ACCESS_KEY_ID \
             and the SSO session)"
        ),
        NoSuchBucket => format!("{message} (check buckets.primary and aws_region in the config)"),
        _ => message,
    };
    StoreError {
        kind,
        operation,
        target,
        message,
        source: Some(Box::new(err)),
    }
}

fn no_credentials_message(detail: &str) -> String {
    format!(
        "no usable AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY, or log in with `aws sso login` ({detail})"
    )
}

fn trim_etag(etag: Option<&str>) -> String {
    etag.unwrap_or_default().trim_matches('"').to_owned()
}

fn sdk_class(class: &StorageClass) -> s3t::StorageClass {
    s3t::StorageClass::from(class.as_str())
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

fn checksum_of(algorithm: &str, value: Option<&str>) -> Option<ObjectChecksum> {
    value.map(|v| ObjectChecksum {
        algorithm: algorithm.to_owned(),
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
    fn describe(&self) -> String {
        match &self.endpoint {
            Some(url) => format!("s3://{} at {url}", self.bucket),
            None => format!("s3://{} ({})", self.bucket, self.region),
        }
    }

    fn bucket(&self) -> String {
        self.bucket.clone()
    }

    fn region(&self) -> String {
        self.region.clone()
    }

    async fn put(
        &self,
        key: &ObjectKey,
        body: Bytes,
        checksum: Option<Checksum>,
        options: &PutOptions,
    ) -> Result<PutResult> {
        let mut request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_length(body.len() as i64)
            .body(ByteStream::from(body))
            .storage_class(sdk_class(&options.storage_class))
            .set_metadata(Some(options.metadata.clone().into_iter().collect()))
            .set_content_type(options.content_type.clone());
        if !options.tags.is_empty() {
            request = request.tagging(encode_tags(&options.tags));
        }
        request = match checksum {
            Some(c @ Checksum::Crc32c(_)) => request
                .checksum_algorithm(ChecksumAlgorithm::Crc32C)
                .checksum_crc32_c(c.to_base64()),
            Some(c @ Checksum::Md5(_)) => request.content_md5(c.to_base64()),
            Some(c @ Checksum::Crc64Nvme(_)) => request
                .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
                .checksum_crc64_nvme(c.to_base64()),
            None => request,
        };
        request = match &options.encryption {
            Some(Encryption::Aes256) => {
                request.server_side_encryption(s3t::ServerSideEncryption::Aes256)
            }
            Some(Encryption::Kms { key_id }) => request
                .server_side_encryption(s3t::ServerSideEncryption::AwsKms)
                .set_ssekms_key_id(key_id.clone()),
            None => request,
        };
        if options.if_none_match {
            request = request.if_none_match("*");
        }
        let out = request
            .customize()
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| store_error("PutObject", self.target(key.as_str()), e))?;
        Ok(PutResult {
            etag: trim_etag(out.e_tag()),
            version_id: out.version_id().map(str::to_owned),
            checksum: checksum_of("CRC32C", out.checksum_crc32_c())
                .or_else(|| checksum_of("CRC64NVME", out.checksum_crc64_nvme())),
        })
    }

    async fn create_multipart(
        &self,
        key: &ObjectKey,
        options: &PutOptions,
        algorithm: Option<&'static str>,
    ) -> Result<MultipartId> {
        let mut request = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .storage_class(sdk_class(&options.storage_class))
            .set_metadata(Some(options.metadata.clone().into_iter().collect()))
            .set_content_type(options.content_type.clone())
            .set_checksum_algorithm(algorithm.map(ChecksumAlgorithm::from));
        if !options.tags.is_empty() {
            request = request.tagging(encode_tags(&options.tags));
        }
        request = match &options.encryption {
            Some(Encryption::Aes256) => {
                request.server_side_encryption(s3t::ServerSideEncryption::Aes256)
            }
            Some(Encryption::Kms { key_id }) => request
                .server_side_encryption(s3t::ServerSideEncryption::AwsKms)
                .set_ssekms_key_id(key_id.clone()),
            None => request,
        };
        let out = request
            .send()
            .await
            .map_err(|e| store_error("CreateMultipartUpload", self.target(key.as_str()), e))?;
        out.upload_id()
            .map(|id| MultipartId(id.to_owned()))
            .ok_or_else(|| {
                StoreError::new(
                    StoreErrorKind::Other,
                    "CreateMultipartUpload",
                    self.target(key.as_str()),
                    "the store returned no upload id",
                )
                .into()
            })
    }

    async fn put_part(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        part_number: u32,
        body: Bytes,
        checksum: Option<Checksum>,
    ) -> Result<PartReceipt> {
        let size = body.len() as u64;
        let mut request = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(&upload.0)
            .part_number(part_number as i32)
            .content_length(size as i64)
            .body(ByteStream::from(body));
        request = match checksum {
            Some(c @ Checksum::Crc32c(_)) => request
                .checksum_algorithm(ChecksumAlgorithm::Crc32C)
                .checksum_crc32_c(c.to_base64()),
            Some(c @ Checksum::Md5(_)) => request.content_md5(c.to_base64()),
            Some(c @ Checksum::Crc64Nvme(_)) => request
                .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
                .checksum_crc64_nvme(c.to_base64()),
            None => request,
        };
        let out = request
            .customize()
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| {
                store_error(
                    "UploadPart",
                    format!("{} (part {part_number})", self.target(key.as_str())),
                    e,
                )
            })?;
        Ok(PartReceipt {
            part_number,
            etag: trim_etag(out.e_tag()),
            size,
            checksum: out.checksum_crc32_c().map(str::to_owned),
        })
    }

    async fn complete_multipart(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        parts: &[PartReceipt],
    ) -> Result<PutResult> {
        let completed = s3t::CompletedMultipartUpload::builder()
            .set_parts(Some(
                parts
                    .iter()
                    .map(|p| {
                        s3t::CompletedPart::builder()
                            .part_number(p.part_number as i32)
                            .e_tag(format!("\"{}\"", p.etag))
                            .set_checksum_crc32_c(p.checksum.clone())
                            .build()
                    })
                    .collect(),
            ))
            .build();
        let out = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(&upload.0)
            .multipart_upload(completed)
            .send()
            .await
            .map_err(|e| store_error("CompleteMultipartUpload", self.target(key.as_str()), e))?;
        Ok(PutResult {
            etag: trim_etag(out.e_tag()),
            version_id: out.version_id().map(str::to_owned),
            checksum: checksum_of("CRC32C", out.checksum_crc32_c()),
        })
    }

    async fn abort_multipart(&self, key: &ObjectKey, upload: &MultipartId) -> Result<()> {
        match self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(&upload.0)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = store_error("AbortMultipartUpload", self.target(key.as_str()), e);
                if err.kind == StoreErrorKind::NoSuchUpload {
                    Ok(()) // already gone
                } else {
                    Err(err.into())
                }
            }
        }
    }

    async fn list_parts(&self, key: &ObjectKey, upload: &MultipartId) -> Result<Vec<PartReceipt>> {
        let mut parts = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let answer = self
                .client
                .list_parts()
                .bucket(&self.bucket)
                .key(key.as_str())
                .upload_id(&upload.0)
                .set_part_number_marker(marker.clone())
                .send()
                .await;
            let (page, next) = match answer {
                Ok(out) => {
                    let page = out
                        .parts()
                        .iter()
                        .map(|p| PartReceipt {
                            part_number: p.part_number().unwrap_or_default() as u32,
                            etag: trim_etag(p.e_tag()),
                            size: p.size().unwrap_or_default() as u64,
                            checksum: p.checksum_crc32_c().map(str::to_owned),
                        })
                        .collect();
                    let next = (out.is_truncated() == Some(true))
                        .then(|| out.next_part_number_marker().map(str::to_owned))
                        .flatten();
                    (page, next)
                }
                Err(e) => {
                    let fallback = e
                        .raw_response()
                        .and_then(|r| r.body().bytes())
                        .and_then(|b| std::str::from_utf8(b).ok())
                        .and_then(parse_list_parts_fallback);
                    match fallback {
                        Some(found) => found,
                        None => {
                            return Err(
                                store_error("ListParts", self.target(key.as_str()), e).into()
                            );
                        }
                    }
                }
            };
            parts.extend(page);
            match next {
                Some(next) => marker = Some(next),
                None => break,
            }
        }
        parts.sort_by_key(|p| p.part_number);
        Ok(parts)
    }

    async fn list_multipart_uploads(&self, prefix: &str) -> Result<Vec<MultipartUploadInfo>> {
        let mut uploads = Vec::new();
        let (mut key_marker, mut id_marker): (Option<String>, Option<String>) = (None, None);
        loop {
            let out = self
                .client
                .list_multipart_uploads()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.clone())
                .set_upload_id_marker(id_marker.clone())
                .send()
                .await
                .map_err(|e| store_error("ListMultipartUploads", self.target(prefix), e))?;
            for u in out.uploads() {
                uploads.push(MultipartUploadInfo {
                    key: u.key().unwrap_or_default().to_owned(),
                    upload_id: MultipartId(u.upload_id().unwrap_or_default().to_owned()),
                    initiated: time(u.initiated()),
                });
            }
            if out.is_truncated() == Some(true) {
                key_marker = out.next_key_marker().map(str::to_owned);
                id_marker = out.next_upload_id_marker().map(str::to_owned);
                if key_marker.is_none() {
                    break;
                }
            } else {
                break;
            }
        }
        Ok(uploads)
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>> {
        let out = match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
        {
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
        Ok(Some(ObjectMeta {
            key: key.clone(),
            size: out.content_length().unwrap_or_default().max(0) as u64,
            etag: trim_etag(out.e_tag()),
            last_modified: time(out.last_modified()),
            storage_class: out
                .storage_class()
                .map_or(StorageClass::Standard, |c| StorageClass::parse(c.as_str())),
            restore: out.restore().and_then(parse_restore),
            version_id: out.version_id().map(str::to_owned),
            metadata: out
                .metadata()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            checksum: checksum_of("CRC32C", out.checksum_crc32_c())
                .or_else(|| checksum_of("CRC64NVME", out.checksum_crc64_nvme())),
        }))
    }

    async fn get(&self, key: &ObjectKey, range: Option<Range<u64>>) -> Result<GetResult> {
        self.get_object(key, range, None).await
    }

    async fn get_version(&self, key: &ObjectKey, version_id: &str) -> Result<GetResult> {
        self.get_object(key, None, Some(version_id.to_owned()))
            .await
    }

    async fn list_versions(&self, prefix: &str) -> Result<Vec<ObjectVersion>> {
        let mut versions = Vec::new();
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|e| store_error("ListObjectVersions", self.target(prefix), e))?;
            for v in page.versions() {
                versions.push(ObjectVersion {
                    key: v.key().unwrap_or_default().to_owned(),
                    version_id: v.version_id().map(str::to_owned),
                    is_latest: v.is_latest().unwrap_or(false),
                    size: v.size().unwrap_or_default().max(0) as u64,
                    etag: v.e_tag().map(|e| trim_etag(Some(e))),
                    last_modified: time(v.last_modified()),
                    storage_class: v
                        .storage_class()
                        .map_or(StorageClass::Standard, |c| StorageClass::parse(c.as_str())),
                });
            }
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_marker = page.next_version_id_marker().map(str::to_owned);
            if key_marker.is_none() {
                break;
            }
        }
        Ok(versions)
    }

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
        let tag_set = tags
            .iter()
            .map(|(k, v)| s3t::Tag::builder().key(k).value(v).build())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| {
                StoreError::new(
                    StoreErrorKind::InvalidRequest,
                    "PutObjectTagging",
                    self.target(key.as_str()),
                    e.to_string(),
                )
            })?;
        let tagging = s3t::Tagging::builder()
            .set_tag_set(Some(tag_set))
            .build()
            .map_err(|e| {
                StoreError::new(
                    StoreErrorKind::InvalidRequest,
                    "PutObjectTagging",
                    self.target(key.as_str()),
                    e.to_string(),
                )
            })?;
        self.client
            .put_object_tagging()
            .bucket(&self.bucket)
            .key(key.as_str())
            .tagging(tagging)
            .send()
            .await
            .map_err(|e| store_error("PutObjectTagging", self.target(key.as_str()), e))?;
        Ok(())
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

    async fn delete(&self, key: &ObjectKey) -> Result<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
            .map_err(|e| store_error("DeleteObject", self.target(key.as_str()), e))?;
        Ok(())
    }

    async fn restore(
        &self,
        key: &ObjectKey,
        version_id: Option<String>,
        days: u32,
        tier: RestoreTier,
    ) -> Result<()> {
        let target = self.target(key.as_str());
        let job = s3t::GlacierJobParameters::builder()
            .tier(s3t::Tier::from(tier.as_str()))
            .build()
            .map_err(|e| {
                StoreError::new(
                    StoreErrorKind::InvalidRequest,
                    "RestoreObject",
                    target.clone(),
                    e.to_string(),
                )
            })?;
        let request = s3t::RestoreRequest::builder()
            .days(days as i32)
            .glacier_job_parameters(job)
            .build();
        self.client
            .restore_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .set_version_id(version_id)
            .restore_request(request)
            .send()
            .await
            .map_err(|e| store_error("RestoreObject", target, e))?;
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
            Ok(out) => Ok(out.rules().iter().map(from_sdk_rule).collect()),
            Err(e) => {
                let no_rules = e
                    .as_service_error()
                    .and_then(|s| s.code())
                    .is_some_and(|c| c == "NoSuchLifecycleConfiguration");
                if no_rules {
                    Ok(Vec::new())
                } else {
                    Err(store_error(
                        "GetBucketLifecycleConfiguration",
                        format!("s3://{}", self.bucket),
                        e,
                    )
                    .into())
                }
            }
        }
    }

    async fn put_lifecycle(&self, rules: &[LifecycleRule]) -> Result<()> {
        let target = format!("s3://{}", self.bucket);
        if rules.is_empty() {
            self.client
                .delete_bucket_lifecycle()
                .bucket(&self.bucket)
                .send()
                .await
                .map_err(|e| store_error("DeleteBucketLifecycle", target, e))?;
            return Ok(());
        }
        let sdk_rules = rules
            .iter()
            .map(to_sdk_rule)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| {
                StoreError::new(
                    StoreErrorKind::InvalidRequest,
                    "PutBucketLifecycleConfiguration",
                    target.clone(),
                    e,
                )
            })?;
        let configuration = s3t::BucketLifecycleConfiguration::builder()
            .set_rules(Some(sdk_rules))
            .build()
            .map_err(|e| {
                StoreError::new(
                    StoreErrorKind::InvalidRequest,
                    "PutBucketLifecycleConfiguration",
                    target.clone(),
                    e.to_string(),
                )
            })?;
        self.client
            .put_bucket_lifecycle_configuration()
            .bucket(&self.bucket)
            .lifecycle_configuration(configuration)
            .send()
            .await
            .map_err(|e| store_error("PutBucketLifecycleConfiguration", target, e))?;
        Ok(())
    }

    async fn bucket_facts(&self) -> Result<BucketFacts> {
        let target = format!("s3://{}", self.bucket);
        let location = self
            .client
            .get_bucket_location()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| store_error("GetBucketLocation", target.clone(), e))?;
        // S3 answers an empty location for us-east-1.
        let region = Some(
            location
                .location_constraint()
                .map(|c| c.as_str().to_owned())
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| "us-east-1".to_owned()),
        );
        let versioning = match self
            .client
            .get_bucket_versioning()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(v) => v.status().map(|s| s.as_str().to_owned()),
            // moto answers with a `GetBucketVersioningResponse` root the SDK refuses.
            Err(e) => e
                .raw_response()
                .and_then(|r| r.body().bytes())
                .and_then(|b| std::str::from_utf8(b).ok())
                .and_then(parse_versioning_fallback),
        };
        let public_access_blocked = match self
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
            Err(e) => {
                let code = e
                    .as_service_error()
                    .and_then(|s| s.code())
                    .unwrap_or_default();
                (code == "NoSuchPublicAccessBlockConfiguration").then_some(false)
            }
        };
        let default_encryption = self
            .client
            .get_bucket_encryption()
            .bucket(&self.bucket)
            .send()
            .await
            .ok()
            .and_then(|out| {
                out.server_side_encryption_configuration()?
                    .rules()
                    .iter()
                    .find_map(|r| {
                        r.apply_server_side_encryption_by_default()
                            .map(|d| d.sse_algorithm().as_str().to_owned())
                    })
            });
        Ok(BucketFacts {
            region,
            versioning,
            public_access_blocked,
            default_encryption,
        })
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
    fn a_list_parts_answer_with_the_other_root_is_read() {
        let xml = r#"<?xml version="1.0"?><ListPartsResponse xmlns="x"><IsTruncated>true</IsTruncated>
            <NextPartNumberMarker>2</NextPartNumberMarker>
            <Part><PartNumber>1</PartNumber><ETag>"aa"</ETag><Size>5</Size></Part>
            <Part><PartNumber>2</PartNumber><ETag>&quot;bb&quot;</ETag><Size>7</Size><ChecksumCRC32C>x==</ChecksumCRC32C></Part>
            </ListPartsResponse>"#;
        let (parts, next) = parse_list_parts_fallback(xml).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[0].part_number, parts[0].etag.as_str(), parts[0].size),
            (1, "aa", 5)
        );
        assert_eq!(parts[1].etag, "bb");
        assert_eq!(parts[1].checksum.as_deref(), Some("x=="));
        assert_eq!(next.as_deref(), Some("2"));
        assert!(parse_list_parts_fallback("<ListPartsResult/>").is_none());
    }

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

    #[test]
    fn tags_are_url_encoded() {
        let mut tags = Tags::new();
        tags.insert("archive".into(), "fast".into());
        tags.insert("a b".into(), "x&y=z".into());
        assert_eq!(encode_tags(&tags), "a%20b=x%26y%3Dz&archive=fast");
    }
}
