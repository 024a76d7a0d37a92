//! The 5XX runbook's judgement as code: its verification targets, and which error class a
//! stage's figures point at, with the runbook's first resolution steps for it filled in.

use std::time::Duration;

use crate::model::{MethodIntegration, Observed, StageMetrics};

/// API Gateway's integration timeout for REST APIs: past it, clients get 504.
pub const INTEGRATION_TIMEOUT_MS: f64 = 29_000.0;
/// Verification targets: p99 Latency under 1 s, p99 IntegrationLatency under 500 ms, no 5XX.
pub const LATENCY_TARGET_MS: f64 = 1_000.0;
pub const INTEGRATION_LATENCY_TARGET_MS: f64 = 500.0;
/// p99 IntegrationLatency from this share of the timeout on counts as nearing it.
const NEAR_TIMEOUT: f64 = 0.8;
/// Average traffic from this share of the tightest throttle on counts as throttling.
const NEAR_LIMIT: f64 = 0.8;

/// How long API Gateway waits for a method's backend: its own timeout, or the 29 s default.
pub fn integration_timeout(integration: &MethodIntegration) -> Duration {
    let ms = integration.timeout_ms.and_then(|ms| u64::try_from(ms).ok());
    Duration::from_millis(ms.unwrap_or(INTEGRATION_TIMEOUT_MS as u64))
}

/// The Verified condition: status ("True", "False" or "Unknown"), reason and message.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub status: &'static str,
    pub reason: &'static str,
    pub message: String,
}

/// Whether the runbook's verification targets hold over the window.
pub fn verify(metrics: &StageMetrics, limits: &Limits) -> Verdict {
    let window = metrics.period;
    let requests = metrics.count.unwrap_or(0.0);
    if requests <= 0.0 {
        return Verdict {
            status: "Unknown",
            reason: "NoTraffic",
            message: format!(
                "no requests in the last {window} s, so the targets cannot be checked"
            ),
        };
    }
    let mut failed: Vec<(&'static str, String)> = Vec::new();
    let five_xx = metrics.five_xx.unwrap_or(0.0);
    if five_xx > 0.0 {
        failed.push((
            "FiveXXErrors",
            format!(
                "5XXError {five_xx} of {requests} requests ({:.1} %, target 0)",
                100.0 * five_xx / requests
            ),
        ));
    }
    if let Some(p99) = metrics.latency_p99.filter(|p| *p >= LATENCY_TARGET_MS) {
        failed.push((
            "SlowResponses",
            format!("p99 Latency {p99:.0} ms (target under {LATENCY_TARGET_MS:.0} ms)"),
        ));
    }
    if let Some(p99) = metrics
        .integration_latency_p99
        .filter(|p| *p >= INTEGRATION_LATENCY_TARGET_MS)
    {
        failed.push((
            "SlowIntegration",
            format!(
                "p99 IntegrationLatency {p99:.0} ms (target under {INTEGRATION_LATENCY_TARGET_MS:.0} ms)"
            ),
        ));
    }
    match failed.first() {
        None => Verdict {
            status: "True",
            reason: "TargetsMet",
            message: format!(
                "in the last {window} s: {requests} requests, no 5XX, p99 Latency {} ms, p99 \
                 IntegrationLatency {} ms",
                shown(metrics.latency_p99),
                shown(metrics.integration_latency_p99)
            ),
        },
        Some((reason, _)) => {
            let found: Vec<&str> = failed.iter().map(|(_, text)| text.as_str()).collect();
            Verdict {
                status: "False",
                reason,
                message: format!(
                    "in the last {window} s: {}; {}",
                    found.join(", "),
                    classify(metrics, limits).explain(metrics, limits)
                ),
            }
        }
    }
}

fn shown(ms: Option<f64>) -> String {
    ms.map_or_else(|| "-".to_owned(), |ms| format!("{ms:.0}"))
}

/// The throttles in front of the stage, in requests per second.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Limits {
    /// The stage's `*/*` method throttle.
    pub stage: Option<f64>,
    /// The usage plan's throttle (it limits only requests with an API key).
    pub usage_plan: Option<f64>,
}

impl Limits {
    /// The limits as AWS has them now.
    pub fn of(observed: &Observed) -> Self {
        Limits {
            stage: observed.stage.all_methods.rate_limit,
            usage_plan: observed
                .usage_plan
                .as_ref()
                .and_then(|plan| plan.as_ref().ok())
                .and_then(|plan| plan.rate_limit),
        }
    }

    fn tightest(&self) -> Option<f64> {
        [self.stage, self.usage_plan]
            .into_iter()
            .flatten()
            .filter(|rate| *rate > 0.0)
            .reduce(f64::min)
    }
}

/// Which 5XX the figures point at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// 504: the backend nears or passes the 29 s integration timeout.
    GatewayTimeout,
    /// 503: traffic meets a throttle.
    Throttled,
    /// 502 or 500: the backend fails or answers in a shape API Gateway cannot map.
    Backend,
}

/// The likely class: a timeout first (it also slows everything), then throttling, else the
/// backend.
pub fn classify(metrics: &StageMetrics, limits: &Limits) -> ErrorClass {
    if metrics
        .integration_latency_p99
        .is_some_and(|p99| p99 >= NEAR_TIMEOUT * INTEGRATION_TIMEOUT_MS)
    {
        return ErrorClass::GatewayTimeout;
    }
    let per_second = metrics.count.unwrap_or(0.0) / f64::from(metrics.period.max(1));
    if limits
        .tightest()
        .is_some_and(|limit| per_second >= NEAR_LIMIT * limit)
    {
        return ErrorClass::Throttled;
    }
    ErrorClass::Backend
}

impl ErrorClass {
    /// The HTTP status(es) the class stands for.
    pub fn code(self) -> &'static str {
        match self {
            ErrorClass::GatewayTimeout => "504",
            ErrorClass::Throttled => "503",
            ErrorClass::Backend => "502/500",
        }
    }

    /// "likely 504: why; first steps: what" for humans.
    pub fn explain(self, metrics: &StageMetrics, limits: &Limits) -> String {
        match self {
            ErrorClass::GatewayTimeout => format!(
                "likely 504 Gateway Timeout: p99 IntegrationLatency {} ms nears the {:.0} s \
                 integration timeout; first steps: make the backend faster (caching, queries) or \
                 asynchronous (queue the work, answer 202), and keep a Lambda function's timeout \
                 under 29 s",
                shown(metrics.integration_latency_p99),
                INTEGRATION_TIMEOUT_MS / 1000.0
            ),
            ErrorClass::Throttled => format!(
                "likely 503 throttling: {:.1} requests/s on average against a limit of {} \
                 requests/s (stage {}, usage plan {}); first steps: compare traffic with the \
                 limits, raise stageThrottle or throttle in the guard's spec, or the account \
                 quota (service quota L-A93B7C5F)",
                metrics.count.unwrap_or(0.0) / f64::from(metrics.period.max(1)),
                shown(limits.tightest()),
                shown(limits.stage),
                shown(limits.usage_plan)
            ),
            ErrorClass::Backend => "likely 502/500 from the backend: first steps: search the \
                 execution log for \"Execution failed\" and \"Internal server error\", check that \
                 a Lambda proxy integration returns {statusCode, body, headers}, and check the \
                 backend's own errors and the integration's permissions (apigw-guard diagnose \
                 runs these steps)"
                .to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(count: f64, five_xx: f64, latency: f64, integration: f64) -> StageMetrics {
        StageMetrics {
            period: 300,
            five_xx: Some(five_xx),
            four_xx: Some(0.0),
            count: Some(count),
            latency_p99: Some(latency),
            integration_latency_p99: Some(integration),
        }
    }

    #[test]
    fn a_healthy_stage_meets_the_targets() {
        let verdict = verify(&metrics(1200.0, 0.0, 180.0, 120.0), &Limits::default());
        assert_eq!((verdict.status, verdict.reason), ("True", "TargetsMet"));
        assert!(
            verdict.message.contains("p99 Latency 180 ms"),
            "{}",
            verdict.message
        );
    }

    #[test]
    fn no_traffic_cannot_be_verified() {
        let verdict = verify(
            &StageMetrics {
                period: 300,
                ..Default::default()
            },
            &Limits::default(),
        );
        assert_eq!((verdict.status, verdict.reason), ("Unknown", "NoTraffic"));
    }

    #[test]
    fn each_missed_target_is_named_with_the_likely_class() {
        let verdict = verify(&metrics(1000.0, 12.0, 900.0, 450.0), &Limits::default());
        assert_eq!((verdict.status, verdict.reason), ("False", "FiveXXErrors"));
        assert!(
            verdict
                .message
                .contains("5XXError 12 of 1000 requests (1.2 %"),
            "{}",
            verdict.message
        );
        assert!(
            verdict.message.contains("likely 502/500"),
            "{}",
            verdict.message
        );

        let slow = verify(
            &metrics(1000.0, 3.0, 28_500.0, 28_000.0),
            &Limits::default(),
        );
        assert_eq!(slow.reason, "FiveXXErrors");
        assert!(
            slow.message.contains("p99 Latency 28500 ms"),
            "{}",
            slow.message
        );
        assert!(
            slow.message.contains("p99 IntegrationLatency 28000 ms"),
            "{}",
            slow.message
        );
        assert!(slow.message.contains("likely 504"), "{}", slow.message);

        let latency_only = verify(&metrics(1000.0, 0.0, 1500.0, 100.0), &Limits::default());
        assert_eq!(latency_only.reason, "SlowResponses");
    }

    #[test]
    fn classes_follow_the_figures() {
        let limits = Limits {
            stage: Some(10.0),
            usage_plan: Some(50.0),
        };
        // 3,000 requests in 300 s is 10/s: the stage throttle's limit.
        assert_eq!(
            classify(&metrics(3000.0, 40.0, 50.0, 30.0), &limits),
            ErrorClass::Throttled
        );
        assert_eq!(
            classify(&metrics(300.0, 40.0, 50.0, 30.0), &limits),
            ErrorClass::Backend
        );
        assert_eq!(
            classify(&metrics(3000.0, 40.0, 29_000.0, 24_000.0), &limits),
            ErrorClass::GatewayTimeout,
            "a timeout explains the rest"
        );
        assert_eq!(
            classify(&metrics(3000.0, 40.0, 50.0, 30.0), &Limits::default()),
            ErrorClass::Backend,
            "no known limit: no throttling claim"
        );
        let text = ErrorClass::Throttled.explain(&metrics(3000.0, 40.0, 50.0, 30.0), &limits);
        assert!(
            text.contains("10.0 requests/s on average against a limit of 10"),
            "{text}"
        );
    }
}
