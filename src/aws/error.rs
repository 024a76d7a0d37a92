//! SDK errors turned into the vocabulary's [`AwsError`], and the error of a call that waits for
//! its turn under a slow quota.

use std::time::Duration;

use aws_sdk_apigateway::config::http::HttpResponse;
use aws_sdk_apigateway::error::{ProvideErrorMetadata, SdkError};

use super::limits::Booked;
use crate::core::model::{AwsError, QUOTA_QUEUED, error_chain};

impl AwsError {
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

    /// Classifies an SDK error, keeping the AWS error code.
    pub fn from_sdk<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match &err {
            SdkError::ServiceError(service) => {
                let status = service.raw().status().as_u16();
                let code = service.err().code().unwrap_or("Unknown").to_owned();
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
                Self::service(operation, status, code, message, retry_after)
            }
            SdkError::TimeoutError(_) => Self::transport(operation, "Timeout", &err),
            SdkError::DispatchFailure(_) => Self::transport(operation, "DispatchFailure", &err),
            SdkError::ResponseError(_) => Self::transport(operation, "ResponseError", &err),
            _ => Self::permanent(operation, "ConstructionFailure", error_chain(&err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::iam_action;
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
