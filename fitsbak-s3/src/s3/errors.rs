//! The one classifier from SDK errors to the store error kinds the engine branches
//! on: every request of the S3 transport maps its failure here.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::error::display::DisplayErrorContext;
use fitsbak_core::error::{StoreError, StoreErrorKind};

/// The kind of a service error, from its code, else its HTTP status.
fn service_kind(code: &str, status: u16) -> StoreErrorKind {
    use StoreErrorKind::*;
    match code {
        "NoSuchBucket" => NoSuchBucket,
        "NoSuchKey" | "NotFound" | "NoSuchVersion" => NotFound,
        "NoSuchUpload" => NoSuchUpload,
        "RequestTimeTooSkewed" => ClockSkew,
        "PermanentRedirect"
        | "AuthorizationHeaderMalformed"
        | "IllegalLocationConstraintException" => WrongRegion,
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
        // s3rver answers MethodNotAllowed for requests it does not know (ListParts).
        "NotImplemented" | "MethodNotAllowed" => NotImplemented,
        _ => match status {
            301 => WrongRegion,
            404 => NotFound,
            403 => AccessDenied,
            500..=599 => Throttled,
            400..=499 => InvalidRequest,
            _ => Other,
        },
    }
}

/// The kind and message of any SDK failure.
fn classify<E>(
    err: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> (StoreErrorKind, String)
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use StoreErrorKind::*;
    match err {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            if let Some(region) = service.raw().headers().get("x-amz-bucket-region")
                && matches!(status, 301 | 400)
            {
                // S3 names the bucket's region; the SDK does not follow the redirect.
                return (
                    WrongRegion,
                    format!("the bucket is in {region}: set aws_region to \"{region}\""),
                );
            }
            let code = service.err().code().unwrap_or_default().to_owned();
            let text = service.err().message().unwrap_or_default().to_owned();
            let message = match (code.is_empty(), text.is_empty()) {
                (false, false) => format!("{code}: {text}"),
                (false, true) => code.clone(),
                // A HEAD answer has no body, so no reason: say what it can mean.
                _ if status == 403 => "HTTP 403 without a reason (a HEAD request): the \
                    credentials were refused, or are not allowed to read this object"
                    .to_owned(),
                _ => format!("HTTP {status}"),
            };
            (service_kind(&code, status), message)
        }
        SdkError::TimeoutError(_) => (Network, "the request timed out".to_owned()),
        SdkError::ResponseError(_) => (Network, DisplayErrorContext(err).to_string()),
        SdkError::DispatchFailure(dispatch) => {
            let text = DisplayErrorContext(err).to_string();
            if !dispatch.is_io() && !dispatch.is_timeout() && text.contains("credential") {
                (Credentials, no_credentials_message(&text))
            } else {
                (Network, text)
            }
        }
        _ => {
            let text = DisplayErrorContext(err).to_string();
            if text.contains("credential") {
                (Credentials, no_credentials_message(&text))
            } else {
                (InvalidRequest, text)
            }
        }
    }
}

/// Maps an SDK failure to a store error naming the operation and the target.
pub(crate) fn store_error<E>(
    operation: &'static str,
    target: String,
    err: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (kind, message) = classify(&err);
    let message = match kind {
        StoreErrorKind::ClockSkew => format!(
            "{message} (this computer's clock is more than 15 minutes off the store's: \
             set it right, for example with NTP: `timedatectl set-ntp true`)"
        ),
        StoreErrorKind::WrongRegion if !message.contains("aws_region") => {
            format!("{message} (the bucket is in another region: check aws_region in the config)")
        }
        StoreErrorKind::Credentials if message.contains("ExpiredToken") => format!(
            "{message} (the credentials expired: log in again, for example `aws sso login`; \
             an interrupted upload keeps its parts and the next run resumes it)"
        ),
        StoreErrorKind::Credentials if !message.contains("AWS_PROFILE") => format!(
            "{message} (the AWS credentials were refused: check AWS_PROFILE, AWS_ACCESS_KEY_ID \
             and the SSO session)"
        ),
        StoreErrorKind::NoSuchBucket => {
            format!("{message} (check buckets.primary and aws_region in the config)")
        }
        _ => message,
    };
    // A service error's code, message and status are in `message`; its source
    // would only repeat them as "service error: unhandled error: Error { .. }".
    let source: Option<fitsbak_core::error::BoxError> = match err {
        SdkError::ServiceError(_) => None,
        err => Some(Box::new(err)),
    };
    StoreError {
        kind,
        operation,
        target,
        message,
        source,
    }
}

fn no_credentials_message(detail: &str) -> String {
    format!(
        "no usable AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY, or log in with `aws sso login` ({detail})"
    )
}
