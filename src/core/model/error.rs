//! The one error type of the AWS boundary: the AWS error code kept, and classified.

use std::time::Duration;

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

/// A failed AWS call, or a refusal the operator decides itself before any call ([`AwsError::check`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{code}: {message}{}", self.failed_call(), self.advice())]
pub struct AwsError {
    /// The AWS operation, e.g. UpdateStage; empty for the operator's own checks.
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

    /// A permanent refusal the operator decides itself (a tenancy rule, a spec it cannot
    /// apply, a stage another guard holds): no AWS call failed, so its message names none.
    pub fn check(code: &str, message: impl Into<String>) -> Self {
        Self::permanent("", code, message)
    }

    /// `UpdateStage failed: ` for an AWS call; nothing for the operator's own checks.
    fn failed_call(&self) -> String {
        match self.operation {
            "" => String::new(),
            operation => format!("{operation} failed: "),
        }
    }

    /// An error AWS answered with: retryable when its HTTP status or code says so.
    pub fn service(
        operation: &'static str,
        status: u16,
        code: String,
        message: String,
        retry_after: Option<Duration>,
    ) -> Self {
        let retryable = status == 429 || status >= 500 || RETRYABLE_CODES.contains(&code.as_str());
        Self {
            operation,
            code,
            message,
            retryable,
            retry_after,
        }
    }

    /// A call that never got an answer (timeout, connection failure): worth retrying.
    pub fn transport(operation: &'static str, code: &str, err: &dyn std::error::Error) -> Self {
        Self {
            operation,
            code: code.to_owned(),
            message: error_chain(err),
            retryable: true,
            retry_after: None,
        }
    }

    /// Whether the call is queued under a slow quota rather than failed.
    pub fn is_queued(&self) -> bool {
        self.code == QUOTA_QUEUED
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
}

/// The IAM action an AWS operation needs: API Gateway authorizes by HTTP method, the others
/// by operation name.
pub fn iam_action(operation: &str) -> String {
    match operation {
        // Named with its service where another service has a call of the same name.
        op if op.contains(':') => op.to_owned(),
        "GetMetricData" | "GetDashboard" => format!("cloudwatch:{operation}"),
        "GetCallerIdentity" => "sts:GetCallerIdentity".to_owned(),
        "FilterLogEvents" | "DescribeLogGroups" | "CreateLogGroup" | "PutRetentionPolicy"
        | "DeleteLogGroup" => format!("logs:{operation}"),
        "DeleteAccessLogSettings" => "apigateway:DELETE".to_owned(),
        "GetFunction" => "lambda:GetFunction".to_owned(),
        op if op.starts_with("Get") => "apigateway:GET".to_owned(),
        op if op.starts_with("Update") => "apigateway:PATCH".to_owned(),
        op => format!("cloudwatch:{op}"),
    }
}

/// An error with its sources, since top-level messages (the SDK's, hyper's) alone say little.
pub fn error_chain(err: &dyn std::error::Error) -> String {
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
    #[test]
    fn each_call_names_the_iam_action_of_its_own_service() {
        for (operation, action) in [
            ("UpdateStage", "apigateway:PATCH"),
            ("GetApis", "apigateway:GET"),
            ("DeleteAccessLogSettings", "apigateway:DELETE"),
            ("CreateLogGroup", "logs:CreateLogGroup"),
            ("DescribeLogGroups", "logs:DescribeLogGroups"),
            ("ListTagsForResource", "cloudwatch:ListTagsForResource"),
            ("logs:ListTagsForResource", "logs:ListTagsForResource"),
        ] {
            assert_eq!(iam_action(operation), action, "{operation}");
        }
    }

    use super::*;

    #[test]
    fn an_aws_call_is_named_and_a_check_of_the_operator_is_not() {
        let call = AwsError::permanent(
            "GetRestApis",
            "NotFoundException",
            "no REST API named \"x\"",
        );
        assert_eq!(
            call.to_string(),
            "GetRestApis failed: NotFoundException: no REST API named \"x\""
        );
        let check = AwsError::check("Conflict", "guard a/b guards it");
        assert_eq!(check.to_string(), "Conflict: guard a/b guards it");
    }
}
