//! The 5XX runbook's judgement as code: its verification targets, and which error class a
//! stage's figures point at, with the runbook's first resolution steps for it filled in.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::model::{COMPLETED, MethodIntegration, MinutePeaks, Observed, StageMetrics};

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
                    classify(&Evidence::window(metrics), limits).explain()
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

/// Which 5XX an incident is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ErrorClass {
    /// 504: the backend nears or passes the 29 s integration timeout.
    GatewayTimeout,
    /// 503: traffic meets a throttle.
    Throttled,
    /// 502: the backend's answer cannot be mapped (e.g. a malformed Lambda proxy response).
    BadGateway,
    /// 500: API Gateway or the integration failed (e.g. missing permissions).
    InternalError,
    /// 502 or 500, when nothing tells which.
    Backend,
}

/// Phrases API Gateway writes to the execution log for a failure, and the class each names.
pub const LOG_PHRASES: [(&str, ErrorClass); 7] = [
    (
        "Execution failed due to a timeout error",
        ErrorClass::GatewayTimeout,
    ),
    ("Endpoint request timed out", ErrorClass::GatewayTimeout),
    ("Integration timeout", ErrorClass::GatewayTimeout),
    ("Malformed Lambda proxy response", ErrorClass::BadGateway),
    (
        "Execution failed due to configuration error",
        ErrorClass::BadGateway,
    ),
    ("Rate Exceeded", ErrorClass::Throttled),
    ("Internal server error", ErrorClass::InternalError),
];

/// What a classification can stand on, strongest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evidence {
    /// 5XX responses by status, counted from the execution log's [`COMPLETED`] lines.
    pub statuses: BTreeMap<u16, usize>,
    /// Execution-log lines per class, by the [`LOG_PHRASES`] they contain.
    pub messages: BTreeMap<ErrorClass, usize>,
    /// Backends that did not answer a probe within the integration timeout.
    pub probe_timeouts: usize,
    /// The busiest and the slowest minute of the window.
    pub peaks: Option<MinutePeaks>,
    /// The window's totals.
    pub window: Option<StageMetrics>,
}

impl Evidence {
    /// What the operator has: the window's figures alone.
    pub fn window(metrics: &StageMetrics) -> Self {
        Self {
            window: Some(metrics.clone()),
            ..Self::default()
        }
    }
}

/// A class and what decided it.
#[derive(Clone, Debug, PartialEq)]
pub struct Classification {
    pub class: ErrorClass,
    /// The evidence, in words: which source and which figures.
    pub decided_by: String,
}

/// Classifies from the strongest evidence there is: the statuses the execution log records,
/// then API Gateway's own failure messages, then probes, then the worst minute against the
/// timeout and the throttles, and only then the window's averages, which a short episode in
/// a long window dilutes.
pub fn classify(evidence: &Evidence, limits: &Limits) -> Classification {
    let decided = |class, decided_by: String| Classification { class, decided_by };
    // Ties go to the class listed first (ErrorClass's order: 504, 503, 502, 500).
    let most = |counts: Vec<(ErrorClass, usize)>| {
        counts
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .min_by_key(|(class, n)| (std::cmp::Reverse(*n), *class))
    };
    let statuses: Vec<(ErrorClass, usize)> = evidence
        .statuses
        .iter()
        .map(|(status, n)| (status_class(*status), *n))
        .collect();
    if let Some((class, n)) = most(statuses) {
        let total: usize = evidence.statuses.values().sum();
        return decided(
            class,
            format!(
                "the execution log: {n} of {total} 5XX responses were {} (\"{}\")",
                class.code(),
                COMPLETED.trim_end()
            ),
        );
    }
    let messages: Vec<(ErrorClass, usize)> =
        evidence.messages.iter().map(|(c, n)| (*c, *n)).collect();
    if let Some((class, n)) = most(messages) {
        let phrases: Vec<&str> = LOG_PHRASES
            .iter()
            .filter(|(_, c)| *c == class)
            .map(|(phrase, _)| *phrase)
            .collect();
        return decided(
            class,
            format!(
                "the execution log: {n} line(s) in API Gateway's own words name {} (\"{}\")",
                class.code(),
                phrases.join("\", \"")
            ),
        );
    }
    if evidence.probe_timeouts > 0 {
        return decided(
            ErrorClass::GatewayTimeout,
            format!(
                "{} backend(s) did not answer a probe within the integration timeout",
                evidence.probe_timeouts
            ),
        );
    }
    let timeout = NEAR_TIMEOUT * INTEGRATION_TIMEOUT_MS;
    let tightest = limits.tightest();
    if let Some(peaks) = &evidence.peaks {
        if let Some(p99) = peaks.integration_latency_p99.filter(|p| *p >= timeout) {
            return decided(
                ErrorClass::GatewayTimeout,
                format!(
                    "the slowest minute: p99 IntegrationLatency {p99:.0} ms nears the {:.0} s \
                     integration timeout",
                    INTEGRATION_TIMEOUT_MS / 1000.0
                ),
            );
        }
        if let (Some(rate), Some(limit)) = (peaks.rate, tightest)
            && rate >= NEAR_LIMIT * limit
        {
            return decided(
                ErrorClass::Throttled,
                format!(
                    "the busiest minute: {rate:.1} requests/s against a limit of {} requests/s \
                     (stage {}, usage plan {})",
                    shown(tightest),
                    shown(limits.stage),
                    shown(limits.usage_plan)
                ),
            );
        }
    }
    if let Some(metrics) = &evidence.window {
        if let Some(p99) = metrics.integration_latency_p99.filter(|p| *p >= timeout) {
            return decided(
                ErrorClass::GatewayTimeout,
                format!(
                    "p99 IntegrationLatency {p99:.0} ms over the window nears the {:.0} s \
                     integration timeout",
                    INTEGRATION_TIMEOUT_MS / 1000.0
                ),
            );
        }
        let rate = metrics.count.unwrap_or(0.0) / f64::from(metrics.period.max(1));
        if let Some(limit) = tightest.filter(|limit| rate >= NEAR_LIMIT * limit) {
            return decided(
                ErrorClass::Throttled,
                format!(
                    "{rate:.1} requests/s on average against a limit of {limit} requests/s \
                     (stage {}, usage plan {})",
                    shown(limits.stage),
                    shown(limits.usage_plan)
                ),
            );
        }
    }
    decided(
        ErrorClass::Backend,
        "no log line, probe or figure points at a timeout or a throttle".to_owned(),
    )
}

/// The class a 5XX status stands for.
fn status_class(status: u16) -> ErrorClass {
    match status {
        504 => ErrorClass::GatewayTimeout,
        503 => ErrorClass::Throttled,
        502 => ErrorClass::BadGateway,
        500 => ErrorClass::InternalError,
        _ => ErrorClass::Backend,
    }
}

impl ErrorClass {
    /// The HTTP status(es) the class stands for.
    pub fn code(self) -> &'static str {
        match self {
            ErrorClass::GatewayTimeout => "504",
            ErrorClass::Throttled => "503",
            ErrorClass::BadGateway => "502",
            ErrorClass::InternalError => "500",
            ErrorClass::Backend => "502/500",
        }
    }

    /// The class as a report names it.
    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::GatewayTimeout => "504 Gateway Timeout",
            ErrorClass::Throttled => "503 Service Unavailable (throttling)",
            ErrorClass::BadGateway => "502 Bad Gateway",
            ErrorClass::InternalError => "500 Internal Server Error",
            ErrorClass::Backend => "502 Bad Gateway or 500 Internal Server Error",
        }
    }

    /// The runbook's first steps for the class.
    fn first_steps(self) -> &'static str {
        match self {
            ErrorClass::GatewayTimeout => {
                "make the backend faster (caching, queries) or asynchronous (queue the work, \
                 answer 202), and keep a Lambda function's timeout under 29 s"
            }
            ErrorClass::Throttled => {
                "compare traffic with the limits, raise stageThrottle or throttle in the guard's \
                 spec, or the account quota (service quota L-A93B7C5F)"
            }
            ErrorClass::BadGateway => {
                "check that a Lambda proxy integration returns {statusCode, body, headers} and \
                 that the backend answers what the integration maps"
            }
            ErrorClass::InternalError => {
                "check the integration's permissions (the Lambda function's resource policy) and \
                 the backend's own errors"
            }
            ErrorClass::Backend => {
                "search the execution log for \"Execution failed\" and \"Internal server error\", \
                 check that a Lambda proxy integration returns {statusCode, body, headers}, and \
                 check the backend's own errors and the integration's permissions (apigw-guard \
                 diagnose runs these steps)"
            }
        }
    }
}

impl Classification {
    /// "likely 504 Gateway Timeout: why; first steps: what" for humans.
    pub fn explain(&self) -> String {
        format!(
            "likely {}: {}; first steps: {}",
            self.class.name(),
            self.decided_by,
            self.class.first_steps()
        )
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
            verdict
                .message
                .contains("likely 502 Bad Gateway or 500 Internal Server Error"),
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

    fn window(count: f64, five_xx: f64, integration: f64) -> Option<StageMetrics> {
        Some(metrics(count, five_xx, 50.0, integration))
    }

    #[test]
    fn the_strongest_evidence_decides_the_class() {
        let limits = Limits {
            stage: Some(10.0),
            usage_plan: Some(50.0),
        };
        // An hour: 36,000 requests (10/s on average, at the limit), 5XX errors, fast backend.
        let hour = |count: f64, integration: f64| {
            Some(StageMetrics {
                period: 3600,
                ..metrics(count, 40.0, 50.0, integration)
            })
        };
        let statuses = |pairs: &[(u16, usize)]| pairs.iter().copied().collect();
        let messages = |pairs: &[(ErrorClass, usize)]| pairs.iter().copied().collect();
        let peak = |rate: f64, integration: f64| {
            Some(MinutePeaks {
                rate: Some(rate),
                integration_latency_p99: Some(integration),
            })
        };
        use ErrorClass::*;
        let table: Vec<(&str, Evidence, ErrorClass, &str)> = vec![
            (
                "the log's statuses beat every figure",
                Evidence {
                    statuses: statuses(&[(502, 30), (504, 2)]),
                    messages: messages(&[(GatewayTimeout, 9)]),
                    window: window(3000.0, 32.0, 28_000.0),
                    ..Default::default()
                },
                BadGateway,
                "30 of 32 5XX responses were 502",
            ),
            (
                "each status is its class",
                Evidence {
                    statuses: statuses(&[(500, 4)]),
                    ..Default::default()
                },
                InternalError,
                "were 500",
            ),
            (
                "API Gateway's own words beat the metrics' shape",
                Evidence {
                    messages: messages(&[(BadGateway, 3), (InternalError, 1)]),
                    window: window(3000.0, 40.0, 28_000.0),
                    ..Default::default()
                },
                BadGateway,
                "3 line(s) in API Gateway's own words name 502",
            ),
            (
                "a timed-out probe is a 504",
                Evidence {
                    probe_timeouts: 1,
                    window: window(300.0, 4.0, 30.0),
                    ..Default::default()
                },
                GatewayTimeout,
                "did not answer a probe",
            ),
            (
                "half an hour of throttling inside the hour: the busiest minute shows it",
                Evidence {
                    peaks: peak(12.0, 40.0),
                    window: hour(18_000.0, 40.0),
                    ..Default::default()
                },
                Throttled,
                "the busiest minute: 12.0 requests/s against a limit of 10",
            ),
            (
                "a few minutes near the timeout: the slowest minute shows it",
                Evidence {
                    peaks: peak(2.0, 28_500.0),
                    window: hour(7200.0, 900.0),
                    ..Default::default()
                },
                GatewayTimeout,
                "the slowest minute: p99 IntegrationLatency 28500 ms",
            ),
            (
                "without logs or peaks, the window's averages",
                Evidence {
                    window: window(3000.0, 40.0, 30.0),
                    ..Default::default()
                },
                Throttled,
                "10.0 requests/s on average against a limit of 10",
            ),
            (
                "a timeout explains the rest",
                Evidence {
                    window: window(3000.0, 40.0, 24_000.0),
                    ..Default::default()
                },
                GatewayTimeout,
                "over the window nears the 29 s integration timeout",
            ),
            (
                "nothing points anywhere: the backend",
                Evidence {
                    window: window(300.0, 40.0, 30.0),
                    ..Default::default()
                },
                Backend,
                "no log line, probe or figure",
            ),
            (
                "no traffic",
                Evidence {
                    window: Some(StageMetrics {
                        period: 300,
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                Backend,
                "no log line, probe or figure",
            ),
        ];
        for (case, evidence, class, says) in table {
            let found = classify(&evidence, &limits);
            assert_eq!(found.class, class, "{case}: {found:?}");
            assert!(
                found.decided_by.contains(says),
                "{case}: {}",
                found.decided_by
            );
        }
        // No known limit: no throttling claim, however busy.
        let busy = Evidence {
            peaks: peak(500.0, 40.0),
            window: window(3000.0, 40.0, 30.0),
            ..Default::default()
        };
        assert_eq!(classify(&busy, &Limits::default()).class, Backend);
        let text = classify(&busy, &limits).explain();
        assert!(
            text.starts_with("likely 503 Service Unavailable (throttling): the busiest minute"),
            "{text}"
        );
    }
}
