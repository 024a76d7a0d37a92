//! The one error type of the AWS boundary: the AWS error code kept, and classified.

use aws_sdk_apigateway::config::http::HttpResponse;
use aws_sdk_apigateway::error::{ProvideErrorMetadata, SdkError};

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

/// A failed AWS call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{operation} failed: {code}: {message}")]
pub struct AwsError {
    /// The AWS operation, e.g. UpdateStage.
    pub operation: &'static str,
    /// The AWS error code, e.g. NotFoundException, or the transport failure.
    pub code: String,
    pub message: String,
    /// Throttling, 5xx and transport failures: worth retrying with backoff. Everything
    /// else (not found, access denied, validation) needs a change first.
    pub retryable: bool,
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
        }
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
                Self {
                    operation,
                    code,
                    message,
                    retryable,
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
            },
        }
    }

    fn transport(operation: &'static str, code: &str, err: &dyn std::error::Error) -> Self {
        Self {
            operation,
            code: code.to_owned(),
            message: error_chain(err),
            retryable: true,
        }
    }
}

/// An error with its sources, since the SDK's top-level messages alone say little.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
