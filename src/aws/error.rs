//! The one error type of the AWS boundary: the AWS error code kept, and classified.

use std::time::Duration;

use aws_sdk_apigateway::config::http::HttpResponse;
use aws_sdk_apigateway::error::{ProvideErrorMetadata, SdkError};

use super::limits::Booked;

/// Codes AWS uses for "slow down" or "try again"; API Gateway's UpdateStage answers 409
/// ConflictException while another update of the stage is in flight.
const RETRYABLE_CODES: &[&str] = &[
    "TooManyRequestsException",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "ConflictException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
];

/// The code of a call not sent yet because its quota's queue is long: not a failure.
pub const QUOTA_QUEUED: &str = "QuotaQueued";

/// A failed AWS call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{operation} failed: {code}: {message}{}", self.advice())]
pub struct AwsError {
    /// The AWS operation, e.g. UpdateStage.
    pub operation: &'static str,
    /// The AWS error code, e.g. NotFoundException, or the transport failure.
    pub code: String,
    pub message: String,
    /// Throttling, 5xx and transport failures: worth retrying with backoff. Everything
    /// else (not found, access denied, validation) needs a change first.
    pub retryable: bool,
    /// How long AWS asked callers to wait (API Gateway's 429 `Retry-After`), which the SDK's
    /// own retries do not honour.
    pub retry_after: Option<Duration>,
}

impl AwsError {
    /// A permanent error that AWS would have given, for lookups done client-side (e.g. a
    /// REST API found by name).
    pub fn permanent(operation: &'static str, code: &str, message: impl Into<String>) -> Self {
        Self {
            operation,
            code: code.to_owned(),
            message: message.into(),
            retryable: false,
            retry_after: None,
        }
    }

    /// A call waiting for a turn far ahead under a slow quota; retry when the turn comes.
    pub fn queued(operation: &'static str, booked: &Booked) -> Self {
        let every = 1.0 / booked.limit.per_second;
        Self {
            operation,
            code: QUOTA_QUEUED.to_owned(),
            message: format!(
                "AWS allows one {operation} every {every:.0} s per account and region; \
                 {} earlier change(s) queued, this one is sent in {} s (the other controls \
                 are not held back)",
                booked.ahead,
                booked.wait.as_secs_f64().ceil()
            ),
            retryable: true,
            retry_after: Some(booked.wait),
        }
    }

    /// Whether the call is queued under a slow quota rather than failed.
    pub fn is_queued(&self) -> bool {
        self.code == QUOTA_QUEUED
    }

    /// Classifies an SDK error, keeping the AWS error code.
    pub fn from_sdk<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match &err {
            SdkError::ServiceError(service) => {
                let status = service.raw().status().as_u16();
                let code = service.err().code().unwrap_or("Unknown").to_owned();
                let retryable =
                    status == 429 || status >= 500 || RETRYABLE_CODES.contains(&code.as_str());
                let message = service
                    .err()
                    .message()
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("HTTP {status}"));
                // Seconds, per RFC 9110; an HTTP date is not worth parsing for a hint.
                let retry_after = service
                    .raw()
                    .headers()
                    .get("retry-after")
                    .and_then(|value| value.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                Self {
                    operation,
                    code,
                    message,
                    retryable,
                    retry_after,
                }
            }
            SdkError::TimeoutError(_) => Self::transport(operation, "Timeout", &err),
            SdkError::DispatchFailure(_) => Self::transport(operation, "DispatchFailure", &err),
            SdkError::ResponseError(_) => Self::transport(operation, "ResponseError", &err),
            _ => Self {
                operation,
                code: "ConstructionFailure".to_owned(),
                message: error_chain(&err),
                retryable: false,
                retry_after: None,
            },
        }
    }

    /// What to do about it, for status messages: empty when the message says enough.
    pub fn advice(&self) -> String {
        let code = self.code.as_str();
        if code.starts_with("AccessDenied") || code == "UnauthorizedOperation" {
            format!(
                " (grant the operator's IAM role {} on this resource; see deploy/iam-policy.json)",
                iam_action(self.operation)
            )
        } else if code == "UnrecognizedClientException"
            || code.contains("Token")
            || code == "InvalidClientTokenId"
        {
            " (the operator's AWS credentials are missing or expired: check its IAM role binding)"
                .to_owned()
        } else if self.is_queued() {
            String::new()
        } else if self.retryable {
            " (retrying with backoff)".to_owned()
        } else {
            String::new()
        }
    }

    fn transport(operation: &'static str, code: &str, err: &dyn std::error::Error) -> Self {
        Self {
            operation,
            code: code.to_owned(),
            message: error_chain(err),
            retryable: true,
            retry_after: None,
        }
    }
}

/// The IAM action an AWS operation needs: API Gateway authorizes by HTTP method, the others
/// by operation name.
pub fn iam_action(operation: &str) -> String {
    match operation {
        "GetMetricData" => "cloudwatch:GetMetricData".to_owned(),
        "FilterLogEvents" => "logs:FilterLogEvents".to_owned(),
        "GetFunction" => "lambda:GetFunction".to_owned(),
        op if op.starts_with("Get") => "apigateway:GET".to_owned(),
        op if op.starts_with("Update") => "apigateway:PATCH".to_owned(),
        op => format!("cloudwatch:{op}"),
    }
}

/// An error with its sources, since top-level messages (the SDK's, hyper's) alone say little.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_apigateway::config::http::HttpResponse;
    use aws_sdk_apigateway::error::ErrorMetadata;
    use aws_sdk_apigateway::operation::update_stage::UpdateStageError;
    use aws_smithy_types::body::SdkBody;

    fn service_error(status: u16, code: &str, retry_after: Option<&str>) -> AwsError {
        let mut raw = HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
        if let Some(value) = retry_after {
            raw.headers_mut().insert("Retry-After", value.to_owned());
        }
        let err =
            UpdateStageError::generic(ErrorMetadata::builder().code(code).message("m").build());
        AwsError::from_sdk("UpdateStage", SdkError::service_error(err, raw))
    }

    #[test]
    fn throttling_conflicts_and_5xx_are_retryable() {
        let throttled = service_error(429, "TooManyRequestsException", Some("7"));
        assert!(throttled.retryable);
        assert_eq!(throttled.retry_after, Some(Duration::from_secs(7)));
        assert_eq!(throttled.code, "TooManyRequestsException");
        assert!(service_error(409, "ConflictException", None).retryable);
        assert!(service_error(503, "ServiceUnavailableException", None).retryable);
        assert!(service_error(500, "InternalFailure", None).retryable);
    }

    #[test]
    fn not_found_denied_and_invalid_are_permanent() {
        for (status, code) in [
            (404, "NotFoundException"),
            (403, "AccessDeniedException"),
            (400, "BadRequestException"),
        ] {
            let err = service_error(status, code, None);
            assert!(!err.retryable, "{code}");
            assert_eq!(err.retry_after, None);
        }
        assert_eq!(
            service_error(404, "NotFoundException", None).to_string(),
            "UpdateStage failed: NotFoundException: m"
        );
    }

    #[test]
    fn messages_say_what_to_do() {
        assert_eq!(
            service_error(403, "AccessDeniedException", None).to_string(),
            "UpdateStage failed: AccessDeniedException: m (grant the operator's IAM role \
             apigateway:PATCH on this resource; see deploy/iam-policy.json)"
        );
        assert!(
            service_error(429, "TooManyRequestsException", None)
                .to_string()
                .ends_with("(retrying with backoff)")
        );
        assert_eq!(iam_action("GetUsagePlans"), "apigateway:GET");
        assert_eq!(iam_action("PutMetricAlarm"), "cloudwatch:PutMetricAlarm");
        assert_eq!(iam_action("GetMetricData"), "cloudwatch:GetMetricData");
    }
}
