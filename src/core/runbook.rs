//! The 5XX runbook's judgement as code: its verification targets, and which error class a
//! stage's figures point at, with the runbook's first resolution steps for it filled in.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::core::model::{
    ApiKind, COMPLETED, MethodIntegration, MinutePeaks, Observed, StageMetrics, millis,
    throttle_limit,
};

/// API Gateway's integration timeout (the default, and an HTTP API's maximum): a REST API
/// answers 504 past 29 s, an HTTP API 503 past 30 s.
pub fn integration_timeout_ms(api: ApiKind) -> f64 {
    api.profile().integration_timeout_ms
}

/// Verification targets: p99 Latency under 1 s, p99 IntegrationLatency under 500 ms, no 5XX.
pub const LATENCY_TARGET_MS: f64 = 1_000.0;
pub const INTEGRATION_LATENCY_TARGET_MS: f64 = 500.0;
/// p99 IntegrationLatency from this share of the timeout on counts as nearing it.
const NEAR_TIMEOUT: f64 = 0.8;
/// Average traffic from this share of the tightest throttle on counts as throttling.
const NEAR_LIMIT: f64 = 0.8;

/// The status clients get when the backend outlasts the integration timeout.
pub fn timeout_status(api: ApiKind) -> u16 {
    api.profile().timeout_status
}

/// How long API Gateway waits for a method's backend: its own timeout, or the API kind's
/// default.
pub fn integration_timeout(api: ApiKind, integration: &MethodIntegration) -> Duration {
    let ms = integration.timeout_ms.and_then(|ms| u64::try_from(ms).ok());
    Duration::from_millis(ms.unwrap_or(integration_timeout_ms(api) as u64))
}

/// Whether an integration latency nears the API kind's integration timeout.
pub fn nears_timeout(api: ApiKind, ms: f64) -> bool {
    ms >= NEAR_TIMEOUT * integration_timeout_ms(api)
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
    verify_within(metrics, limits, 0.0)
}

/// [`verify`] with an objective's share of requests allowed to fail (0.001 for 99.9 %) in
/// place of the runbook's zero 5XX.
pub fn verify_within(metrics: &StageMetrics, limits: &Limits, allowed: f64) -> Verdict {
    let window = metrics.period;
    let requests = metrics.count.unwrap_or(0.0);
    // The kind's own words: a REST or HTTP API's 5XXError of its requests, a WebSocket API's
    // integration and execution errors of its messages (and no Latency metric).
    let names = &limits.api.profile().metrics;
    let traffic = names.traffic_label.to_lowercase();
    if requests <= 0.0 {
        return Verdict {
            status: "Unknown",
            reason: "NoTraffic",
            message: format!(
                "no {traffic} in the last {window} s, so the targets cannot be checked"
            ),
        };
    }
    // One error metric is named as the runbook names it (5XXError); a sum by its parts.
    let errors_name = match names.server_errors {
        [_] => "5XXError".to_owned(),
        several => several.join(" + "),
    };
    let errors_short = names.server_errors_label;
    let mut failed: Vec<(&'static str, String)> = Vec::new();
    let five_xx = metrics.five_xx.unwrap_or(0.0);
    let target = match allowed {
        0.0 => "target 0".to_owned(),
        share => format!("the objective allows {} %", 100.0 * share),
    };
    if five_xx > allowed * requests {
        failed.push((
            "FiveXXErrors",
            format!(
                "{errors_name} {five_xx} of {requests} {traffic} ({:.1} %, {target})",
                100.0 * five_xx / requests
            ),
        ));
    }
    let errors = match five_xx {
        0.0 => format!("no {errors_short}"),
        n => format!(
            "{n} {errors_short} ({:.2} %, {target})",
            100.0 * n / requests
        ),
    };
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
    let latency = match names.latency {
        Some(_) => format!(", p99 Latency {}", millis(metrics.latency_p99)),
        None => String::new(),
    };
    match failed.first() {
        None => Verdict {
            status: "True",
            reason: "TargetsMet",
            message: format!(
                "in the last {window} s: {requests} {traffic}, {errors}{latency}, p99 \
                 IntegrationLatency {}",
                millis(metrics.integration_latency_p99)
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

/// What bounds the stage: its throttles, in requests per second, and its kind of API, which
/// sets the integration timeout and how a throttle answers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Limits {
    pub api: ApiKind,
    /// The stage's `*/*` method throttle (REST) or default route throttle (HTTP).
    pub stage: Option<f64>,
    /// The usage plan's throttle (it limits only requests with an API key).
    pub usage_plan: Option<f64>,
}

impl Limits {
    /// The limits as AWS has them now.
    pub fn of(observed: &Observed) -> Self {
        Limits {
            api: observed.api.kind,
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
    /// 504: the backend nears or passes the integration timeout (an HTTP API answers 503).
    GatewayTimeout,
    /// 503: traffic meets a throttle (REST APIs; an HTTP API's throttle answers 429, no 5XX).
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

/// An HTTP API's own integration error (`$context.integrationErrorMessage`) beyond
/// [`LOG_PHRASES`], which it may carry too, and the class it names.
const INTEGRATION_ERRORS: [(&str, ErrorClass); 1] = [(
    // "The IAM role configured on the integration or API Gateway doesn't have permissions
    // to call the integration": the Lambda function's resource policy misses API Gateway.
    "permissions to call the integration",
    ErrorClass::InternalError,
)];

/// The class an HTTP API's integration error names, if it names one.
pub fn integration_error_class(message: &str) -> Option<ErrorClass> {
    let message = message.to_lowercase();
    LOG_PHRASES
        .iter()
        .chain(&INTEGRATION_ERRORS)
        .find(|(phrase, _)| message.contains(&phrase.to_lowercase()))
        .map(|(_, class)| *class)
}

/// What a classification can stand on, strongest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evidence {
    /// 5XX responses by status: the execution log's [`COMPLETED`] lines (REST), or the access
    /// log's lines whose status API Gateway answered itself, not the backend (HTTP).
    pub statuses: BTreeMap<u16, usize>,
    /// Execution-log lines per class, by the [`LOG_PHRASES`] they contain (REST), or access-log
    /// 5XX lines per class, by their integration error ([`integration_error_class`]) or an
    /// integration latency near the timeout (HTTP).
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
    /// The kind of API, whose timeout and logs the first steps name.
    pub api: ApiKind,
    /// The evidence, in words: which source and which figures.
    pub decided_by: String,
}

/// Classifies from the strongest evidence there is: the statuses the stage's log records,
/// then API Gateway's own failure messages, then probes, then the worst minute against the
/// timeout and the throttles, and only then the window's averages, which a short episode in
/// a long window dilutes. A throttle never explains an HTTP API's 5XX: it answers 429.
pub fn classify(evidence: &Evidence, limits: &Limits) -> Classification {
    let (class, decided_by) = from_logs(evidence, limits.api)
        .or_else(|| from_figures(evidence, limits))
        .unwrap_or_else(|| {
            (
                ErrorClass::Backend,
                "no log line, probe or figure points at a timeout or a throttle".to_owned(),
            )
        });
    Classification {
        class,
        api: limits.api,
        decided_by,
    }
}

/// The class most of the 5XX responses or API Gateway's own log lines name, and why.
fn from_logs(evidence: &Evidence, api: ApiKind) -> Option<(ErrorClass, String)> {
    let profile = api.profile();
    // Ties go to the class listed first (ErrorClass's order: 504, 503, 502, 500).
    let most = |counts: BTreeMap<ErrorClass, usize>| {
        counts
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .min_by_key(|(class, n)| (std::cmp::Reverse(*n), *class))
    };
    let mut statuses: BTreeMap<ErrorClass, usize> = BTreeMap::new();
    for (status, n) in &evidence.statuses {
        *statuses.entry(status_class(api, *status)).or_default() += n;
    }
    if let Some((class, n)) = most(statuses) {
        let total: usize = evidence.statuses.values().sum();
        let of_class: Vec<String> = evidence
            .statuses
            .keys()
            .filter(|status| status_class(api, **status) == class)
            .map(u16::to_string)
            .collect();
        let of_class = of_class.join("/");
        return Some((
            class,
            match profile.execution_logs {
                true => format!(
                    "the execution log: {n} of {total} 5XX responses were {of_class} (\"{}\")",
                    COMPLETED.trim_end()
                ),
                false => format!(
                    "the access log: {n} of {total} 5XX responses API Gateway answered itself \
                     were {of_class}{}",
                    match class == ErrorClass::GatewayTimeout
                        && profile.timeout_status != 504
                        && evidence.statuses.contains_key(&profile.timeout_status)
                    {
                        true => format!(
                            " ({} {} answers {} when its integration times out)",
                            profile.article, profile.noun, profile.timeout_status
                        ),
                        false => String::new(),
                    }
                ),
            },
        ));
    }
    if let Some((class, n)) = most(evidence.messages.clone()) {
        let phrases: Vec<&str> = LOG_PHRASES
            .iter()
            .filter(|(_, c)| *c == class)
            .map(|(phrase, _)| *phrase)
            .collect();
        return Some((
            class,
            match profile.execution_logs {
                true => format!(
                    "the execution log: {n} line(s) in API Gateway's own words name {} (\"{}\")",
                    class.code(),
                    phrases.join("\", \"")
                ),
                false => format!(
                    "the access log: {n} 5XX response(s) name {} by their integration error or \
                     an integration latency near the {:.0} s timeout",
                    class.code(),
                    integration_timeout_ms(api) / 1000.0
                ),
            },
        ));
    }
    None
}

/// The class a probe, the busiest period or the window's figures point at, and why: a
/// timeout near the integration limit, or traffic near the tightest throttle.
fn from_figures(evidence: &Evidence, limits: &Limits) -> Option<(ErrorClass, String)> {
    let api = limits.api;
    if evidence.probe_timeouts > 0 {
        return Some((
            ErrorClass::GatewayTimeout,
            format!(
                "{} backend(s) did not answer a probe within the integration timeout",
                evidence.probe_timeouts
            ),
        ));
    }
    let timeout_s = integration_timeout_ms(api) / 1000.0;
    // A throttle explains 5XX only where it answers with one (REST: 503; HTTP: 429).
    let tightest = limits
        .tightest()
        .filter(|_| api.profile().throttle_status >= 500);
    if let Some(peaks) = &evidence.peaks {
        if let Some(p99) = peaks
            .integration_latency_p99
            .filter(|p| nears_timeout(api, *p))
        {
            return Some((
                ErrorClass::GatewayTimeout,
                format!(
                    "the slowest {}: p99 IntegrationLatency {p99:.0} ms nears the {timeout_s:.0} \
                     s integration timeout",
                    peaks.unit()
                ),
            ));
        }
        if let (Some(rate), Some(limit)) = (peaks.rate, tightest)
            && rate >= NEAR_LIMIT * limit
        {
            return Some((
                ErrorClass::Throttled,
                format!(
                    "the busiest {}: {rate:.1} requests/s against a limit of {} requests/s \
                     (stage {}, usage plan {})",
                    peaks.unit(),
                    throttle_limit(tightest),
                    throttle_limit(limits.stage),
                    throttle_limit(limits.usage_plan)
                ),
            ));
        }
    }
    if let Some(metrics) = &evidence.window {
        if let Some(p99) = metrics
            .integration_latency_p99
            .filter(|p| nears_timeout(api, *p))
        {
            return Some((
                ErrorClass::GatewayTimeout,
                format!(
                    "p99 IntegrationLatency {p99:.0} ms over the window nears the {timeout_s:.0} s \
                     integration timeout"
                ),
            ));
        }
        let rate = metrics.count.unwrap_or(0.0) / f64::from(metrics.period.max(1));
        if let Some(limit) = tightest.filter(|limit| rate >= NEAR_LIMIT * limit) {
            return Some((
                ErrorClass::Throttled,
                format!(
                    "{rate:.1} requests/s on average against a limit of {limit} requests/s \
                     (stage {}, usage plan {})",
                    throttle_limit(limits.stage),
                    throttle_limit(limits.usage_plan)
                ),
            ));
        }
    }
    None
}

/// The class a 5XX status stands for on an API of the kind.
fn status_class(api: ApiKind, status: u16) -> ErrorClass {
    // An HTTP API answers an integration timeout with 503, and a throttle with 429.
    let profile = api.profile();
    match status {
        504 => ErrorClass::GatewayTimeout,
        status if status == profile.timeout_status => ErrorClass::GatewayTimeout,
        status if status == profile.throttle_status => ErrorClass::Throttled,
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

    /// The runbook's first steps for the class on an API of the kind.
    fn first_steps(self, api: ApiKind) -> String {
        match (self, api.profile().execution_logs) {
            (ErrorClass::GatewayTimeout, _) => format!(
                "make the backend faster (caching, queries) or asynchronous (queue the work, \
                 answer 202), and keep a Lambda function's timeout under {:.0} s",
                integration_timeout_ms(api) / 1000.0
            ),
            (ErrorClass::Throttled, _) => "compare traffic with the limits, raise stageThrottle \
                 or throttle in the guard's spec, or the account quota (service quota L-A93B7C5F)"
                .to_owned(),
            (ErrorClass::BadGateway, _) => "check that a Lambda proxy integration returns \
                 {statusCode, body, headers} and that the backend answers what the integration \
                 maps"
                .to_owned(),
            (ErrorClass::InternalError, _) => "check the integration's permissions (the Lambda \
                 function's resource policy) and the backend's own errors"
                .to_owned(),
            (ErrorClass::Backend, true) => "search the execution log for \"Execution \
                 failed\" and \"Internal server error\", check that a Lambda proxy integration \
                 returns {statusCode, body, headers}, and check the backend's own errors and the \
                 integration's permissions (apigw-guard diagnose runs these steps)"
                .to_owned(),
            (ErrorClass::Backend, false) => "read the access log's integration errors \
                 and statuses, check that a Lambda integration returns a valid response, and \
                 check the backend's own errors and the integration's permissions (apigw-guard \
                 diagnose runs these steps)"
                .to_owned(),
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
            self.class.first_steps(self.api)
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
    fn a_figure_cloudwatch_did_not_have_says_no_data_not_a_dash() {
        let verdict = verify(
            &StageMetrics {
                latency_p99: None,
                integration_latency_p99: None,
                ..metrics(1200.0, 0.0, 0.0, 0.0)
            },
            &Limits::default(),
        );
        assert!(
            verdict
                .message
                .ends_with("p99 Latency no data, p99 IntegrationLatency no data"),
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

    /// A WebSocket API's verdict speaks its own metrics: errors of messages, and no Latency
    /// (AWS publishes none for the kind, so none is read or shown).
    #[test]
    fn a_websocket_api_is_verified_on_its_errors_of_its_messages() {
        let limits = Limits {
            api: ApiKind::WebSocket,
            ..Limits::default()
        };
        let mut window = metrics(500.0, 0.0, 0.0, 120.0);
        window.latency_p99 = None;
        let healthy = verify(&window, &limits);
        assert_eq!(
            healthy.message,
            "in the last 300 s: 500 messages, no errors, p99 IntegrationLatency 120 ms"
        );
        window.five_xx = Some(5.0);
        let failing = verify(&window, &limits);
        assert_eq!(failing.reason, "FiveXXErrors");
        assert!(
            failing
                .message
                .contains("IntegrationError + ExecutionError 5 of 500 messages (1.0 %, target 0)"),
            "{}",
            failing.message
        );
    }

    #[test]
    fn the_strongest_evidence_decides_the_class() {
        let limits = Limits {
            api: ApiKind::Rest,
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
                period: 60,
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

    #[test]
    fn an_http_api_times_out_with_503_at_30_s_and_throttles_without_5xx() {
        let limits = Limits {
            api: ApiKind::Http,
            stage: Some(10.0),
            usage_plan: None,
        };
        let statuses = |pairs: &[(u16, usize)]| pairs.iter().copied().collect();
        let timeouts = classify(
            &Evidence {
                statuses: statuses(&[(503, 3), (504, 1), (502, 2)]),
                ..Default::default()
            },
            &limits,
        );
        assert_eq!(timeouts.class, ErrorClass::GatewayTimeout);
        assert_eq!(
            timeouts.decided_by,
            "the access log: 4 of 6 5XX responses API Gateway answered itself were 503/504 (an \
             HTTP API answers 503 when its integration times out)"
        );
        assert!(
            timeouts.explain().contains("timeout under 30 s"),
            "{}",
            timeouts.explain()
        );

        let named = classify(
            &Evidence {
                messages: [(ErrorClass::InternalError, 2)].into_iter().collect(),
                ..Default::default()
            },
            &limits,
        );
        assert_eq!(named.class, ErrorClass::InternalError);
        assert!(
            named
                .decided_by
                .starts_with("the access log: 2 5XX response(s) name 500"),
            "{}",
            named.decided_by
        );

        // 29 s nears both timeouts; 23.5 s only REST's 29 s one (80 % of it is 23.2 s).
        let slow = |p99: f64| Evidence {
            window: Some(StageMetrics {
                period: 300,
                count: Some(3000.0),
                five_xx: Some(40.0),
                integration_latency_p99: Some(p99),
                ..Default::default()
            }),
            ..Default::default()
        };
        let found = classify(&slow(29_000.0), &limits);
        assert_eq!(found.class, ErrorClass::GatewayTimeout);
        assert!(
            found.decided_by.contains("the 30 s integration timeout"),
            "{found:?}"
        );
        assert_eq!(
            classify(&slow(23_500.0), &limits).class,
            ErrorClass::Backend
        );
        let rest = Limits {
            api: ApiKind::Rest,
            ..limits.clone()
        };
        assert_eq!(
            classify(&slow(23_500.0), &rest).class,
            ErrorClass::GatewayTimeout
        );
        // 10 requests/s at a limit of 10: a REST API's 503s, never an HTTP API's 5XX.
        assert_eq!(classify(&slow(30.0), &rest).class, ErrorClass::Throttled);
        assert_eq!(classify(&slow(30.0), &limits).class, ErrorClass::Backend);
    }

    #[test]
    fn integration_errors_name_their_class() {
        assert_eq!(
            integration_error_class(
                "The IAM role configured on the integration or API Gateway doesn't have \
                 permissions to call the integration. Check the permissions and try again."
            ),
            Some(ErrorClass::InternalError)
        );
        assert_eq!(
            integration_error_class("Malformed Lambda proxy response"),
            Some(ErrorClass::BadGateway)
        );
        assert_eq!(integration_error_class("-"), None);
    }
}
