//! `apigw-guard diagnose`: the runbook's diagnosis steps for one stage, as a report. It only
//! reads: metrics (step 1), the stage's log (step 2: a REST API's execution log, an HTTP API's
//! access log, the only log it has), the backend (step 3) and the API's configuration and
//! throttles (step 4), then names the likely error class and fills in the runbook's resolution
//! commands with the real ids. What cannot be read, or does not exist for the API's kind, is a
//! finding, not a failure; only a missing API or stage ends it.

mod probe;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

use crate::aws::{ApiGateway, SdkDiagnostics};
use crate::core::crd::ResourceRef;
use crate::core::kind::Section;
use crate::core::model::{
    Account, ApiKind, AwsError, GuardedApi, LambdaFunction, LogMatches, MethodIntegration,
    MinutePeaks, StageMetrics, StageSettings, figure, millis, served_period, throttle_limit,
};
use crate::core::runbook::{self, ErrorClass, Evidence, Limits, integration_timeout_ms};
pub use probe::Probe;

/// The execution-log phrases of the runbook's step 2.
pub const PATTERNS: [&str; 3] = [
    "Execution failed",
    "Integration timeout",
    "Internal server error",
];
/// How many of an HTTP API's most frequent integration errors a report shows.
const ERROR_SAMPLES: usize = 5;

/// The whole report; `--output json` prints it as is.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Diagnosis {
    pub api_kind: ApiKind,
    pub api_id: String,
    pub api_name: String,
    pub stage: String,
    pub region: String,
    pub window_seconds: i32,
    /// Step 1; `None` when CloudWatch could not be read.
    pub metrics: Option<Figures>,
    /// Step 2: a REST stage's execution logging level; `None` on an HTTP API, which has none.
    pub execution_logging: Option<String>,
    /// The log step 2 reads: a REST stage's execution log group, an HTTP API stage's access
    /// log group (`None` while the stage writes no access logs).
    pub log_group: Option<String>,
    /// REST: the execution log's phrases.
    pub log_matches: Vec<PatternMatches>,
    /// Requests that ended with each 5XX status: the execution log's `Method completed with
    /// status:` lines, or the access log's status.
    #[serde(rename = "completed5XX")]
    pub completed_5xx: BTreeMap<u16, usize>,
    /// HTTP: what the access log's 5XX lines say besides their status.
    pub access_log: Option<AccessLogRead>,
    /// The busiest and slowest minute of the window.
    pub peaks: Option<MinutePeaks>,
    /// Steps 3 and 4.
    pub integrations: Vec<MethodIntegration>,
    pub lambda_functions: Vec<LambdaFunction>,
    /// HTTP backends, with `--probe` only.
    pub probes: Vec<Probe>,
    pub stage_throttle: Option<Throttle>,
    /// REST only: HTTP APIs have no usage plans.
    pub usage_plans: Vec<PlanThrottle>,
    pub account: Option<Account>,
    pub findings: Vec<Finding>,
    /// The likely error class, e.g. "504 Gateway Timeout"; `None` when nothing failed.
    pub likely: Option<String>,
    /// The evidence that decided it, strongest first: the log's statuses, its failure
    /// messages, probes, the worst minute, the window's averages.
    pub decided_by: Option<String>,
    /// The runbook's resolution for that class, commands filled in.
    pub resolution: Vec<String>,
}

/// Step 1's figures.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Figures {
    pub requests: Option<f64>,
    #[serde(rename = "fiveXXErrors")]
    pub five_xx_errors: Option<f64>,
    #[serde(rename = "fourXXErrors")]
    pub four_xx_errors: Option<f64>,
    /// 5XX errors as a share of requests, percent.
    #[serde(rename = "fiveXXSharePercent")]
    pub five_xx_share_percent: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub integration_latency_p99_ms: Option<f64>,
}

/// How often a phrase appears in the execution log.
#[derive(Clone, Debug, Serialize)]
pub struct PatternMatches {
    pub pattern: &'static str,
    #[serde(flatten)]
    pub matches: LogMatches,
}

/// Step 2 on an HTTP API: the access log's 5XX lines beyond their statuses.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessLogRead {
    /// 5XX lines read.
    pub lines: usize,
    /// Lines whose status the backend answered itself (the integration status is the same):
    /// its own error passed through, not API Gateway's, so not the classifier's evidence.
    pub from_backend: usize,
    /// Lines whose integration ran to near the 30 s integration timeout.
    pub near_timeout: usize,
    /// The slowest integration latency of the lines, milliseconds.
    pub slowest_integration_ms: Option<f64>,
    /// The most frequent integration errors (`$context.integrationErrorMessage`).
    pub integration_errors: Vec<IntegrationError>,
}

/// One integration error message and how many 5XX lines carry it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IntegrationError {
    pub message: String,
    pub count: usize,
}

/// A throttle, requests per second and burst.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Throttle {
    pub rate_limit: Option<f64>,
    pub burst_limit: Option<i32>,
}

/// A usage plan serving the stage.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanThrottle {
    pub id: String,
    pub name: String,
    pub rate_limit: Option<f64>,
    pub burst_limit: Option<i32>,
}

/// One thing the steps found.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// The runbook step, 1 to 4.
    pub step: u8,
    pub kind: Kind,
    pub text: String,
}

/// How much a finding matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Points at the cause or needs fixing.
    Problem,
    /// Worth knowing.
    Info,
    /// Could not be read (permissions, missing resources).
    Unavailable,
}

fn finding(step: u8, kind: Kind, text: impl Into<String>) -> Finding {
    Finding {
        step,
        kind,
        text: text.into(),
    }
}

/// The function a Lambda integration invokes (its ARN), if it is one: REST APIs' invoke URI
/// (`arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/ARN/invocations`), or the
/// function ARN itself (`arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`), as HTTP
/// APIs' Lambda integrations name it.
fn lambda_arn(uri: &str) -> Option<&str> {
    if let Some((_, rest)) = uri.split_once(":lambda:path/") {
        let (_, rest) = rest.split_once("/functions/")?;
        return rest.strip_suffix("/invocations");
    }
    let (partition, rest) = uri.strip_prefix("arn:")?.split_once(':')?;
    let name = rest.strip_prefix("lambda:")?.split_once(":function:")?.1;
    (!partition.is_empty() && !name.is_empty() && !uri.contains('/')).then_some(uri)
}

/// The function's name from its ARN (`...:function:NAME[:QUALIFIER]`).
fn function_name(arn: &str) -> &str {
    arn.split_once(":function:")
        .map_or(arn, |(_, rest)| rest.split(':').next().unwrap_or(rest))
}

/// Runs the runbook's diagnosis for the `kind` of API `by` names and its `stage` over the last
/// `since`; with `probe`, also sends each HTTP backend a HEAD request.
///
/// Long: the runbook's steps in its order, each reading what the next one needs.
pub async fn diagnose(
    aws: &SdkDiagnostics,
    region: &str,
    kind: ApiKind,
    by: &ResourceRef,
    stage: &str,
    since: Duration,
    probe: bool,
) -> Result<Diagnosis, AwsError> {
    let api = aws.apigateway.find_api(kind, by).await?;
    let settings = aws.apigateway.get_stage(kind, &api.id, stage).await?;
    let mut findings = Vec::new();
    // Whole periods of what CloudWatch serves for data that old: minutes for 15 days, then
    // 5 minutes to 63 days, then hours.
    let resolution = served_period(i64::try_from(since.as_secs()).unwrap_or(i64::MAX)) as u64;
    let periods = since.as_secs().div_ceil(resolution).max(1);
    let window_seconds = i32::try_from(periods * resolution).unwrap_or(i32::MAX);

    // Step 1: the metrics.
    let key = api.metric_stage(stage);
    let metrics = match aws
        .cloudwatch
        .metrics_over(std::slice::from_ref(&key), window_seconds)
        .await
    {
        Ok(mut all) => all.remove(&key),
        Err(err) => {
            findings.push(finding(1, Kind::Unavailable, format!("metrics: {err}")));
            None
        }
    };

    // Step 2: the stage's log.
    let since_ms = SystemTime::now()
        .checked_sub(since)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64);
    let log = match kind.profile().execution_logs {
        true => execution_log(aws, &api, stage, &settings, since_ms, &mut findings).await,
        false => access_log(aws, kind, &settings, since_ms, &mut findings).await,
    };
    let peaks = match aws.cloudwatch.minute_peaks(&key, window_seconds).await {
        Ok(peaks) => Some(peaks),
        Err(err) => {
            findings.push(finding(
                1,
                Kind::Unavailable,
                format!("per-minute metrics: {err}"),
            ));
            None
        }
    };

    // Steps 3 and 4: integrations and the backends behind them.
    let read = aws.integrations(kind, &api.id).await;
    let integrations = match read {
        Ok(integrations) => integrations,
        Err(err) => {
            findings.push(finding(
                4,
                Kind::Unavailable,
                format!("integrations: {err}"),
            ));
            Vec::new()
        }
    };
    let (lambda_functions, probes) = backends(aws, kind, &integrations, probe, &mut findings).await;

    // Step 4: throttles.
    let stage_throttle = settings.all_methods.rate_limit.map(|rate_limit| Throttle {
        rate_limit: Some(rate_limit),
        burst_limit: settings.all_methods.burst_limit,
    });
    let usage_plans = match kind.profile().has(Section::UsagePlanThrottle) {
        true => stage_usage_plans(aws, &api.id, stage, &mut findings).await,
        false => {
            findings.push(finding(
                4,
                Kind::Info,
                format!(
                    "usage plans: not checked, {}s have none (they throttle by stage and route, \
                     answering {})",
                    kind.noun(),
                    kind.profile().throttle_status
                ),
            ));
            Vec::new()
        }
    };
    let account = match aws.apigateway.account().await {
        Ok(account) => Some(account),
        Err(err) => {
            findings.push(finding(4, Kind::Unavailable, format!("account: {err}")));
            None
        }
    };

    let mut diagnosis = Diagnosis {
        api_kind: kind,
        api_id: api.id,
        api_name: api.name,
        stage: stage.to_owned(),
        region: region.to_owned(),
        window_seconds,
        metrics: metrics.as_ref().map(figures),
        execution_logging: log.execution_logging,
        log_group: log.log_group,
        log_matches: log.log_matches,
        completed_5xx: log.completed_5xx,
        access_log: log.access_log,
        peaks,
        integrations,
        lambda_functions,
        probes,
        stage_throttle,
        usage_plans,
        account,
        findings,
        likely: None,
        decided_by: None,
        resolution: Vec::new(),
    };
    judge(&mut diagnosis, metrics.as_ref(), log.evidence);
    Ok(diagnosis)
}

/// Step 3: the Lambda functions the integrations call, and (with `probe`) a HEAD request to
/// each HTTP backend reachable from here, allowed the longest integration timeout of the
/// methods calling it.
async fn backends(
    aws: &SdkDiagnostics,
    kind: ApiKind,
    integrations: &[MethodIntegration],
    probe: bool,
    findings: &mut Vec<Finding>,
) -> (Vec<LambdaFunction>, Vec<Probe>) {
    let mut lambda_functions = Vec::new();
    let functions: BTreeSet<&str> = integrations
        .iter()
        .filter_map(|i| i.uri.as_deref().and_then(lambda_arn))
        .collect();
    for arn in functions {
        match aws.function(arn).await {
            Ok(function) => lambda_functions.push(function),
            Err(err) => findings.push(finding(
                3,
                Kind::Unavailable,
                format!("Lambda function {}: {err}", function_name(arn)),
            )),
        }
    }
    // The longest integration timeout of the methods calling each URL.
    let mut targets: BTreeMap<String, Duration> = BTreeMap::new();
    for integration in integrations.iter().filter(|i| i.kind.starts_with("HTTP")) {
        let uri = integration.uri.as_deref().unwrap_or("?");
        let what = format!("{} {} calls {uri}", integration.method, integration.path);
        match probe::url_of(uri) {
            _ if integration.vpc_link.is_some() => findings.push(finding(
                3,
                Kind::Info,
                format!(
                    "{what} through {}: not probed, it is only reachable inside its VPC",
                    match integration.vpc_link.as_deref() {
                        Some("") | None => "a VPC link".to_owned(),
                        Some(id) => format!("VPC link {id}"),
                    }
                ),
            )),
            None => findings.push(finding(
                3,
                Kind::Info,
                format!("{what}: not probed, its host is only known at request time"),
            )),
            Some(_) if !probe => findings.push(finding(
                3,
                Kind::Info,
                format!("{what}: not probed (--probe sends it a HEAD request)"),
            )),
            Some(url) => {
                let longest = targets.entry(url).or_default();
                *longest = (*longest).max(runbook::integration_timeout(kind, integration));
            }
        }
    }
    let targets: Vec<(String, Duration)> = targets.into_iter().collect();
    (lambda_functions, probe::probe_all(&targets).await)
}

/// What step 2 read from the stage's log.
#[derive(Default)]
struct LogRead {
    execution_logging: Option<String>,
    log_group: Option<String>,
    log_matches: Vec<PatternMatches>,
    completed_5xx: BTreeMap<u16, usize>,
    access_log: Option<AccessLogRead>,
    /// The strongest evidence of the class: how requests ended, and API Gateway's own words.
    evidence: Evidence,
}

/// Step 2 on a REST API: execution logging and the execution log.
async fn execution_log(
    aws: &SdkDiagnostics,
    api: &GuardedApi,
    stage: &str,
    settings: &StageSettings,
    since_ms: i64,
    findings: &mut Vec<Finding>,
) -> LogRead {
    let execution_logging = settings.all_methods.logging_level.clone();
    if execution_logging.as_deref().is_none_or(|l| l == "OFF") {
        findings.push(finding(
            2,
            Kind::Problem,
            "execution logging is off, so failures leave no trace: set spec.executionLogging \
             on the guard (level ERROR or INFO)",
        ));
    }
    let log_group = format!("API-Gateway-Execution-Logs_{}/{stage}", api.id);
    let mut log_matches = Vec::new();
    for pattern in PATTERNS {
        match aws.log_matches(&log_group, pattern, since_ms).await {
            Ok(matches) => log_matches.push(PatternMatches { pattern, matches }),
            Err(err) if err.code == "ResourceNotFoundException" => {
                findings.push(finding(
                    2,
                    Kind::Unavailable,
                    format!("log group {log_group} does not exist: execution logging has not written to it yet"),
                ));
                break;
            }
            Err(err) => {
                findings.push(finding(
                    2,
                    Kind::Unavailable,
                    format!("execution log: {err}"),
                ));
                break;
            }
        }
    }
    let mut evidence = Evidence::default();
    if log_matches.len() == PATTERNS.len() {
        match aws.completed_5xx(&log_group, since_ms).await {
            Ok(found) => evidence.statuses = found,
            Err(err) => findings.push(finding(
                2,
                Kind::Unavailable,
                format!("execution log: {err}"),
            )),
        }
        for (phrase, class) in runbook::LOG_PHRASES {
            let count = match log_matches.iter().find(|m| m.pattern == phrase) {
                Some(read) => read.matches.count,
                None => match aws.log_matches(&log_group, phrase, since_ms).await {
                    Ok(matches) => matches.count,
                    Err(_) => 0,
                },
            };
            *evidence.messages.entry(class).or_default() += count;
        }
    }
    LogRead {
        execution_logging,
        log_group: Some(log_group),
        log_matches,
        completed_5xx: evidence.statuses.clone(),
        access_log: None,
        evidence,
    }
}

/// Step 2 on an HTTP API: its access log, the only log it has, read where the stage's access
/// log settings send it, in whatever JSON format they give it.
async fn access_log(
    aws: &SdkDiagnostics,
    kind: ApiKind,
    settings: &StageSettings,
    since_ms: i64,
    findings: &mut Vec<Finding>,
) -> LogRead {
    // A kind with execution logs of its own (a WebSocket API's) is not said to lack them.
    let record = match kind.profile().has(Section::ExecutionLogging) {
        false => format!(
            "{}s have no execution logs or X-Ray tracing: the access log is their only record \
             of each request",
            kind.noun()
        ),
        true => format!(
            "{}s have no X-Ray tracing; the access log is what is read here of each request \
             (their execution logs are not)",
            kind.noun()
        ),
    };
    findings.push(finding(2, Kind::Info, record));
    let Some(settings) = &settings.access_log else {
        findings.push(finding(
            2,
            Kind::Problem,
            "the stage writes no access logs, so failures leave no trace: set \
             spec.accessLogging on the guard",
        ));
        return LogRead::default();
    };
    let group = log_group_of(&settings.destination_arn).to_owned();
    let mut read = LogRead {
        log_group: Some(group.clone()),
        ..LogRead::default()
    };
    let Some(fields) = AccessFields::of(&settings.format) else {
        findings.push(finding(
            2,
            Kind::Unavailable,
            format!(
                "access log {group}: its format is not JSON with $context.status, so its lines \
                 are not read (spec.accessLogging sets one that is)"
            ),
        ));
        return read;
    };
    let mut tally = AccessTally::default();
    match aws
        .filter(&group, &fields.five_xx_pattern(), since_ms, |_, line| {
            tally.add(kind, &fields, line)
        })
        .await
    {
        Ok(()) => {
            read.completed_5xx = tally.statuses;
            read.evidence = tally.evidence;
            let mut errors: Vec<IntegrationError> = tally
                .errors
                .into_iter()
                .map(|(message, count)| IntegrationError { message, count })
                .collect();
            errors.sort_by_key(|e| std::cmp::Reverse(e.count));
            errors.truncate(ERROR_SAMPLES);
            tally.read.integration_errors = errors;
            read.access_log = Some(tally.read);
        }
        Err(err) if err.code == "ResourceNotFoundException" => findings.push(finding(
            2,
            Kind::Unavailable,
            format!("log group {group} does not exist: the stage has not written to it yet"),
        )),
        Err(err) => findings.push(finding(2, Kind::Unavailable, format!("access log: {err}"))),
    }
    read
}

/// The log group an access log destination names (`arn:...:log-group:NAME`, maybe `:*`).
fn log_group_of(arn: &str) -> &str {
    arn.split_once(":log-group:")
        .map_or(arn, |(_, name)| name.trim_end_matches(":*"))
}

/// Where an access log's JSON lines keep what step 2 reads: the key of each `$context`
/// variable in the stage's format, so a format other than the guard's is read too.
#[derive(Debug, PartialEq)]
struct AccessFields {
    status: String,
    /// Whether the format writes the status as a JSON string (quoted) or a number.
    status_quoted: bool,
    integration_status: Option<String>,
    integration_latency: Option<String>,
    integration_error: Option<String>,
}

impl AccessFields {
    /// The keys in `format` (`{"status":"$context.status", ...}`); `None` when it is not
    /// JSON (CLF, XML, CSV) or logs no status.
    fn of(format: &str) -> Option<Self> {
        if !format.trim_start().starts_with('{') {
            return None;
        }
        // Each variable's key and whether its value is quoted; the first use of a variable.
        let mut keys: BTreeMap<&str, (&str, bool)> = BTreeMap::new();
        for (at, _) in format.match_indices("$context.") {
            let before = format[..at].trim_end();
            let (before, quoted) = match before.strip_suffix('"') {
                Some(before) => (before.trim_end(), true),
                None => (before, false),
            };
            let Some(before) = before
                .strip_suffix(':')
                .and_then(|b| b.trim_end().strip_suffix('"'))
            else {
                continue;
            };
            let Some(start) = before.rfind('"') else {
                continue;
            };
            let variable = format[at + "$context.".len()..]
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
                .next()
                .unwrap_or_default()
                .trim_end_matches('.');
            keys.entry(variable)
                .or_insert((&before[start + 1..], quoted));
        }
        let key = |variables: &[&str]| {
            variables
                .iter()
                .find_map(|v| keys.get(v))
                .map(|(key, _)| (*key).to_owned())
        };
        let (status, status_quoted) = keys.get("status")?;
        Some(Self {
            status: (*status).to_owned(),
            status_quoted: *status_quoted,
            integration_status: key(&["integration.status", "integrationStatus"]),
            integration_latency: key(&["integration.latency", "integrationLatency"]),
            integration_error: key(&["integrationErrorMessage", "integration.error"]),
        })
    }

    /// The CloudWatch Logs filter pattern of the 5XX lines, so only those are read.
    fn five_xx_pattern(&self) -> String {
        if self.status_quoted {
            format!("{{ $.{} = \"5*\" }}", self.status)
        } else {
            format!("{{ $.{} >= 500 }}", self.status)
        }
    }
}

/// The access log's 5XX lines, counted as they are read.
#[derive(Default)]
struct AccessTally {
    read: AccessLogRead,
    /// Every 5XX line's status.
    statuses: BTreeMap<u16, usize>,
    /// The classifier's: the statuses API Gateway answered itself, and the classes the lines'
    /// integration errors and latencies name.
    evidence: Evidence,
    errors: BTreeMap<String, usize>,
}

impl AccessTally {
    /// Counts one line; a line that is not JSON or not a 5XX is skipped (the filter pattern
    /// already leaves those out on AWS).
    fn add(&mut self, kind: ApiKind, fields: &AccessFields, line: &str) {
        let Ok(Value::Object(line)) = serde_json::from_str::<Value>(line) else {
            return;
        };
        // A variable without a value is logged as "-".
        let field = |key: Option<&String>| {
            let value = match line.get(key?)? {
                Value::String(text) => text.clone(),
                Value::Number(number) => number.to_string(),
                _ => return None,
            };
            (!value.is_empty() && value != "-").then_some(value)
        };
        let Some(status) = field(Some(&fields.status))
            .and_then(|s| s.parse::<u16>().ok())
            .filter(|s| (500..600).contains(s))
        else {
            return;
        };
        self.read.lines += 1;
        *self.statuses.entry(status).or_default() += 1;
        let latency = field(fields.integration_latency.as_ref()).and_then(|l| l.parse().ok());
        if let Some(ms) = latency {
            let slowest = self.read.slowest_integration_ms.get_or_insert(ms);
            *slowest = slowest.max(ms);
        }
        let near = latency.is_some_and(|ms| runbook::nears_timeout(kind, ms));
        self.read.near_timeout += usize::from(near);
        let error = field(fields.integration_error.as_ref());
        if let Some(error) = &error {
            *self.errors.entry(error.clone()).or_default() += 1;
        }
        if field(fields.integration_status.as_ref()) == Some(status.to_string()) {
            self.read.from_backend += 1;
            return;
        }
        *self.evidence.statuses.entry(status).or_default() += 1;
        let class = error
            .as_deref()
            .and_then(runbook::integration_error_class)
            .or(near.then_some(ErrorClass::GatewayTimeout));
        if let Some(class) = class {
            *self.evidence.messages.entry(class).or_default() += 1;
        }
    }
}

/// Step 4 on a REST API: the usage plans serving the stage.
async fn stage_usage_plans(
    aws: &SdkDiagnostics,
    api_id: &str,
    stage: &str,
    findings: &mut Vec<Finding>,
) -> Vec<PlanThrottle> {
    match aws.apigateway.usage_plans().await {
        Ok(plans) => plans
            .into_iter()
            .filter(|(_, plan)| {
                plan.api_stages
                    .iter()
                    .any(|(id, s)| id == api_id && s == stage)
            })
            .map(|(name, plan)| PlanThrottle {
                id: plan.id,
                name,
                rate_limit: plan.rate_limit,
                burst_limit: plan.burst_limit,
            })
            .collect(),
        Err(err) => {
            findings.push(finding(4, Kind::Unavailable, format!("usage plans: {err}")));
            Vec::new()
        }
    }
}

fn figures(metrics: &StageMetrics) -> Figures {
    Figures {
        requests: metrics.count,
        five_xx_errors: metrics.five_xx,
        four_xx_errors: metrics.four_xx,
        five_xx_share_percent: metrics
            .count
            .filter(|n| *n > 0.0)
            .map(|n| 100.0 * metrics.five_xx.unwrap_or(0.0) / n),
        latency_p99_ms: metrics.latency_p99,
        integration_latency_p99_ms: metrics.integration_latency_p99,
    }
}

fn hits(diagnosis: &Diagnosis, pattern: &str) -> usize {
    diagnosis
        .log_matches
        .iter()
        .find(|m| m.pattern == pattern)
        .map_or(0, |m| m.matches.count)
}

/// The findings the figures support, the likely class and its resolution; `log` is step 2's
/// evidence.
///
/// Long: the runbook's findings in its order, each a few lines of its own.
fn judge(d: &mut Diagnosis, metrics: Option<&StageMetrics>, log: Evidence) {
    let limits = Limits {
        api: d.api_kind,
        stage: d.stage_throttle.as_ref().and_then(|t| t.rate_limit),
        usage_plan: d
            .usage_plans
            .iter()
            .filter_map(|p| p.rate_limit)
            .reduce(f64::min),
    };
    if let Some(m) = metrics {
        match (m.count, m.five_xx) {
            (Some(n), Some(e)) if e > 0.0 => d.findings.push(finding(
                1,
                Kind::Problem,
                format!(
                    "{e} 5XX errors of {n} requests ({:.1} %) in the last {} s",
                    100.0 * e / n.max(1.0),
                    d.window_seconds
                ),
            )),
            (Some(n), _) => d.findings.push(finding(
                1,
                Kind::Info,
                format!(
                    "no 5XX errors in {n} requests in the last {} s",
                    d.window_seconds
                ),
            )),
            (None, _) => d.findings.push(finding(
                1,
                Kind::Info,
                format!("no requests in the last {} s", d.window_seconds),
            )),
        }
    }
    for m in d.log_matches.iter().filter(|m| m.matches.count > 0) {
        d.findings.push(finding(
            2,
            Kind::Problem,
            format!(
                "{} log events with \"{}\"; newest: {}",
                m.matches.count,
                m.pattern,
                m.matches.latest.first().map_or("", String::as_str)
            ),
        ));
    }
    if let Some(read) = &d.access_log {
        access_findings(read, &mut d.findings);
    }
    let timeout_ms = integration_timeout_ms(d.api_kind);
    let timeout_answer = runbook::timeout_status(d.api_kind);
    for function in &d.lambda_functions {
        if function.state.as_deref().is_some_and(|s| s != "Active") {
            d.findings.push(finding(
                3,
                Kind::Problem,
                format!(
                    "Lambda function {} is {} ({})",
                    function.name,
                    function.state.as_deref().unwrap_or("?"),
                    function
                        .state_reason
                        .as_deref()
                        .unwrap_or("no reason given")
                ),
            ));
        }
        if let Some(timeout) = function
            .timeout_seconds
            .filter(|t| f64::from(*t) * 1000.0 >= timeout_ms)
        {
            d.findings.push(finding(
                3,
                Kind::Problem,
                format!(
                    "Lambda function {} may run {timeout} s, past API Gateway's {:.0} s \
                     integration timeout: clients get {timeout_answer} while it still runs",
                    function.name,
                    timeout_ms / 1000.0
                ),
            ));
        }
    }
    for p in &d.probes {
        let text = match (p.status, &p.error) {
            (Some(status), _) => format!("HEAD {} answered {status} in {} ms", p.url, p.elapsed_ms),
            (None, _) if p.timed_out() => format!(
                "HEAD {} got no answer within the {} ms integration timeout: API Gateway \
                 answers {timeout_answer}",
                p.url, p.timeout_ms
            ),
            (None, error) => format!(
                "HEAD {} failed after {} ms: {}",
                p.url,
                p.elapsed_ms,
                error.as_deref().unwrap_or("no answer")
            ),
        };
        let kind = match p.status {
            Some(status) if status < 500 => Kind::Info,
            _ => Kind::Problem,
        };
        d.findings.push(finding(3, kind, text));
    }
    // By step, in the order found within a step.
    d.findings.sort_by_key(|f| f.step);
    let failing = metrics.is_some_and(|m| m.five_xx.unwrap_or(0.0) > 0.0)
        || PATTERNS.iter().any(|p| hits(d, p) > 0)
        || !d.completed_5xx.is_empty();
    if !failing {
        return;
    }
    let evidence = Evidence {
        probe_timeouts: d.probes.iter().filter(|p| p.timed_out()).count(),
        peaks: d.peaks.clone(),
        window: metrics.cloned(),
        ..log
    };
    let classification = runbook::classify(&evidence, &limits);
    d.resolution = match classification.class {
        ErrorClass::GatewayTimeout => resolve_504(d),
        ErrorClass::Throttled => resolve_503(d),
        ErrorClass::BadGateway => resolve_502(d),
        ErrorClass::InternalError => resolve_500(d),
        ErrorClass::Backend => {
            let mut both = resolve_502(d);
            both.extend(resolve_500(d));
            both
        }
    };
    d.likely = Some(classification.class.name().to_owned());
    d.decided_by = Some(classification.decided_by);
}

/// What an HTTP API's access log says beyond its statuses, as findings.
fn access_findings(read: &AccessLogRead, findings: &mut Vec<Finding>) {
    if read.near_timeout > 0 {
        findings.push(finding(
            2,
            Kind::Problem,
            format!(
                "{} 5XX responses' integrations ran near the 30 s integration timeout (slowest \
                 {})",
                read.near_timeout,
                millis(read.slowest_integration_ms)
            ),
        ));
    }
    for error in &read.integration_errors {
        findings.push(finding(
            2,
            Kind::Problem,
            format!(
                "{} 5XX responses with the integration error \"{}\"",
                error.count, error.message
            ),
        ));
    }
    if read.from_backend > 0 {
        findings.push(finding(
            3,
            Kind::Problem,
            format!(
                "{} of {} 5XX responses are the backend's own status, passed through: look at \
                 the backend",
                read.from_backend, read.lines
            ),
        ));
    }
}

fn function_names(d: &Diagnosis) -> Vec<String> {
    d.lambda_functions
        .iter()
        .map(|f| function_name(&f.name).to_owned())
        .collect()
}

fn resolve_504(d: &Diagnosis) -> Vec<String> {
    let timeout_s = (integration_timeout_ms(d.api_kind) / 1000.0) as i32;
    let mut steps = vec![
        format!(
            "Make the backend answer within {timeout_s} s: reduce its execution time, add a \
             cache, optimize its queries"
        ),
        "Make long work asynchronous: queue it (SQS), answer 202 Accepted at once, offer a \
         status endpoint to poll"
            .to_owned(),
    ];
    // A second under the integration timeout, so the function's own error reaches clients.
    let under = timeout_s - 1;
    for function in &d.lambda_functions {
        if function.timeout_seconds.is_some_and(|t| t > under) {
            steps.push(format!(
                "aws lambda update-function-configuration --region {} --function-name {} --timeout {under}",
                d.region,
                function_name(&function.name)
            ));
        }
    }
    steps
}

fn resolve_503(d: &Diagnosis) -> Vec<String> {
    let mut steps = Vec::new();
    for plan in &d.usage_plans {
        steps.push(format!(
            "aws apigateway get-usage-plan --region {} --usage-plan-id {}",
            d.region, plan.id
        ));
    }
    steps.push(
        "Raise the limits in the ApiGatewayGuard's spec (throttle.rateLimit and burstLimit, \
         stageThrottle): apigw-guard puts back a change made outside it"
            .to_owned(),
    );
    for plan in &d.usage_plans {
        let rate = plan.rate_limit.unwrap_or(500.0) * 2.0;
        let burst = plan.burst_limit.unwrap_or(1000) * 2;
        steps.push(format!(
            "aws apigateway update-usage-plan --region {} --usage-plan-id {} --patch-operations \
             op=replace,path=/throttle/rateLimit,value={rate} \
             op=replace,path=/throttle/burstLimit,value={burst}   (unguarded plans only)",
            d.region, plan.id
        ));
    }
    steps.push(format!(
        "aws service-quotas get-service-quota --region {} --service-code apigateway --quota-code L-A93B7C5F",
        d.region
    ));
    steps
}

fn resolve_502(d: &Diagnosis) -> Vec<String> {
    let mut steps = vec![
        "Check the response format: a Lambda proxy integration must return { statusCode, \
         body, headers }; an HTTP backend a valid HTTP response"
            .to_owned(),
        d.api_kind
            .profile()
            .check_integrations(&d.region, &d.api_id),
    ];
    for name in function_names(d) {
        steps.push(format!(
            "aws lambda invoke --region {} --function-name {name} --payload '{{\"test\": \"data\"}}' response.json",
            d.region
        ));
    }
    steps
}

fn resolve_500(d: &Diagnosis) -> Vec<String> {
    let mut steps = Vec::new();
    for name in function_names(d) {
        steps.push(format!(
            "aws logs tail --region {} /aws/lambda/{name} --follow",
            d.region
        ));
        steps.push(format!(
            "aws lambda get-policy --region {} --function-name {name}",
            d.region
        ));
    }
    steps.push(
        "Verify the IAM role the integration assumes can invoke the backend (aws iam get-role)"
            .to_owned(),
    );
    steps
}

/// The report for people.
pub fn render_text(d: &Diagnosis) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Diagnosis of {} {} ({}) stage {} in {}, last {} s",
        d.api_kind.noun(),
        d.api_name,
        d.api_id,
        d.stage,
        d.region,
        d.window_seconds
    );
    write_metrics(&mut out, d);
    write_logs(&mut out, d);
    write_backends(&mut out, d);
    write_configuration(&mut out, d);
    write_verdict(&mut out, d);
    out
}

/// Step 1: the stage's CloudWatch metrics, and its worst minute (or longer period).
fn write_metrics(out: &mut String, d: &Diagnosis) {
    let _ = writeln!(out, "\nStep 1: CloudWatch metrics");
    match &d.metrics {
        Some(m) => {
            let metrics = &d.api_kind.profile().metrics;
            let latency = metrics.latency.map_or(String::new(), |name| {
                format!(", p99 {name} {}", figure(m.latency_p99_ms, " ms"))
            });
            let _ = writeln!(
                out,
                "  {} {}, {} {} ({}), {} {}{latency}, p99 IntegrationLatency {}",
                metrics.traffic_label.to_lowercase(),
                figure(m.requests, ""),
                metrics.server_errors_shown(),
                figure(m.five_xx_errors, ""),
                figure(m.five_xx_share_percent.map(|p| format!("{p:.1}")), " %"),
                metrics.client_errors,
                figure(m.four_xx_errors, ""),
                figure(m.integration_latency_p99_ms, " ms")
            );
        }
        None => {
            let _ = writeln!(out, "  (not read)");
        }
    }
    if let Some(peaks) = &d.peaks {
        let _ = writeln!(
            out,
            "  worst {}: {}, p99 IntegrationLatency {}",
            peaks.unit(),
            figure(peaks.rate.map(|r| format!("{r:.1}")), " requests/s"),
            millis(peaks.integration_latency_p99)
        );
        if peaks.period > 60 {
            let _ = writeln!(
                out,
                "  (per {}: CloudWatch keeps minutes for 15 days, 5 minutes for 63, hours beyond)",
                peaks.unit()
            );
        }
    }
}

/// Step 2: what the execution logs (REST) or access logs say.
fn write_logs(out: &mut String, d: &Diagnosis) {
    let group = d.log_group.as_deref().unwrap_or("none");
    match d.api_kind.profile().execution_logs {
        true => {
            let _ = writeln!(out, "\nStep 2: execution logs ({group})");
            let _ = writeln!(
                out,
                "  execution logging: {}",
                d.execution_logging.as_deref().unwrap_or("OFF")
            );
        }
        false => {
            let _ = writeln!(out, "\nStep 2: access logs ({group})");
        }
    }
    for m in &d.log_matches {
        let _ = writeln!(out, "  \"{}\": {}", m.pattern, m.matches.count);
        for message in &m.matches.latest {
            let _ = writeln!(out, "      {message}");
        }
    }
    if !d.completed_5xx.is_empty() {
        let ended: Vec<String> = d
            .completed_5xx
            .iter()
            .map(|(status, n)| format!("{status} x{n}"))
            .collect();
        let _ = writeln!(out, "  requests that ended in 5XX: {}", ended.join(", "));
    }
    if let Some(read) = &d.access_log {
        let _ = writeln!(
            out,
            "  of those, the backend's own status: {}; near the 30 s integration timeout: {} \
             (slowest integration {})",
            read.from_backend,
            read.near_timeout,
            millis(read.slowest_integration_ms)
        );
        for error in &read.integration_errors {
            let _ = writeln!(
                out,
                "  integration error x{}: {}",
                error.count, error.message
            );
        }
    }
}

/// Step 3: the Lambda functions and HTTP backends behind the stage.
fn write_backends(out: &mut String, d: &Diagnosis) {
    let _ = writeln!(out, "\nStep 3: backends");
    if d.lambda_functions.is_empty() && d.probes.is_empty() {
        let _ = writeln!(
            out,
            "  no Lambda backends read and no HTTP backends probed (the integrations are under step 4)"
        );
    }
    for f in &d.lambda_functions {
        let _ = writeln!(
            out,
            "  Lambda {}: state {}, timeout {}",
            function_name(&f.name),
            f.state.as_deref().unwrap_or("unknown"),
            figure(f.timeout_seconds, " s")
        );
    }
    for p in &d.probes {
        let outcome = match (p.status, &p.error) {
            (Some(status), _) => format!("{status} in {} ms", p.elapsed_ms),
            (None, _) if p.timed_out() => {
                format!(
                    "no answer within {} ms, the integration timeout",
                    p.timeout_ms
                )
            }
            (None, error) => format!(
                "failed after {} ms: {}",
                p.elapsed_ms,
                error.as_deref().unwrap_or("no answer")
            ),
        };
        let _ = writeln!(out, "  HEAD {}: {outcome}", p.url);
    }
}

/// Step 4: integrations and their timeouts, throttles, the account's settings.
fn write_configuration(out: &mut String, d: &Diagnosis) {
    let _ = writeln!(out, "\nStep 4: configuration");
    for i in &d.integrations {
        let _ = writeln!(
            out,
            "  {} {}: {}{} (timeout {} ms)",
            i.method,
            i.path,
            i.kind,
            i.uri
                .as_deref()
                .map(|u| format!(" {u}"))
                .unwrap_or_default(),
            runbook::integration_timeout(d.api_kind, i).as_millis()
        );
    }
    let throttle = |rate: Option<f64>, burst: Option<i32>| match (rate, burst) {
        (None, None) => "none set".to_owned(),
        _ => format!(
            "{} requests/s, burst {}",
            throttle_limit(rate),
            throttle_limit(burst)
        ),
    };
    if let Some(t) = &d.stage_throttle {
        let _ = writeln!(
            out,
            "  stage throttle: {}",
            throttle(t.rate_limit, t.burst_limit)
        );
    }
    for p in &d.usage_plans {
        let _ = writeln!(
            out,
            "  usage plan {} ({}): {}",
            p.name,
            p.id,
            throttle(p.rate_limit, p.burst_limit)
        );
    }
    if let Some(a) = &d.account {
        let _ = write!(
            out,
            "  account throttle: {}",
            throttle(a.rate_limit, a.burst_limit)
        );
        // An HTTP API writes its logs through a service-linked role instead.
        if d.api_kind.profile().logs_through_account_role {
            let _ = write!(
                out,
                "; CloudWatch Logs role: {}",
                a.cloudwatch_role_arn.as_deref().unwrap_or("none")
            );
        }
        let _ = writeln!(out);
    }
}

/// The findings, the likely cause and its resolution.
fn write_verdict(out: &mut String, d: &Diagnosis) {
    let _ = writeln!(out, "\nFindings");
    for f in &d.findings {
        let kind = match f.kind {
            Kind::Problem => "problem",
            Kind::Info => "info",
            Kind::Unavailable => "unavailable",
        };
        let _ = writeln!(out, "  [step {} {kind}] {}", f.step, f.text);
    }
    match &d.likely {
        None => {
            let _ = writeln!(out, "\nNo 5XX errors: nothing to resolve.");
        }
        Some(likely) => {
            let _ = writeln!(out, "\nLikely: {likely}");
            if let Some(why) = &d.decided_by {
                let _ = writeln!(out, "  decided by {why}");
            }
            let _ = writeln!(out, "Resolution");
            for step in &d.resolution {
                let _ = writeln!(out, "  - {step}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lambda_is_named_by_its_invoke_uri_or_its_own_arn() {
        let arn = "arn:aws:lambda:eu-west-1:123456789012:function:orders";
        let invoke = format!(
            "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/{arn}/invocations"
        );
        assert_eq!(lambda_arn(&invoke), Some(arn));
        assert_eq!(lambda_arn(arn), Some(arn));
        let qualified = "arn:aws:lambda:eu-west-1:123456789012:function:orders:live";
        assert_eq!(lambda_arn(qualified), Some(qualified));
        assert_eq!(function_name(qualified), "orders");
        for other in [
            "https://example.com/orders",
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/x/1/2",
            "arn:aws:lambda:eu-west-1:123456789012:layer:deps:1",
            "arn:aws:apigateway:eu-west-1:sqs:path/123456789012/queue",
        ] {
            assert_eq!(lambda_arn(other), None, "{other}");
        }
    }

    #[test]
    fn the_guards_format_and_others_are_read_by_their_keys() {
        let guards = AccessFields::of(&ApiKind::Http.profile().access_log_format()).unwrap();
        assert_eq!(
            guards,
            AccessFields {
                status: "status".to_owned(),
                status_quoted: true,
                integration_status: Some("integrationStatus".to_owned()),
                integration_latency: Some("integrationLatency".to_owned()),
                integration_error: Some("integrationErrorMessage".to_owned()),
            }
        );
        assert_eq!(guards.five_xx_pattern(), r#"{ $.status = "5*" }"#);

        let own = AccessFields::of(
            r#"{ "id": "$context.requestId", "code": $context.status, "took": $context.integrationLatency, "why": "$context.integration.error" }"#,
        )
        .unwrap();
        assert_eq!(own.status, "code");
        assert_eq!(own.integration_latency.as_deref(), Some("took"));
        assert_eq!(own.integration_error.as_deref(), Some("why"));
        assert_eq!(own.integration_status, None);
        assert_eq!(own.five_xx_pattern(), "{ $.code >= 500 }");

        let clf = "$context.identity.sourceIp - - [$context.requestTime] \"$context.httpMethod \
                   $context.routeKey\" $context.status $context.requestId";
        assert_eq!(AccessFields::of(clf), None);
        assert_eq!(AccessFields::of(r#"{"id":"$context.requestId"}"#), None);
    }

    #[test]
    fn only_api_gateways_own_5xx_answers_are_evidence() {
        let fields = AccessFields::of(&ApiKind::Http.profile().access_log_format()).unwrap();
        let line = |status: &str, integration: &str, latency: &str, error: &str| {
            serde_json::json!({
                "requestId": "r", "status": status, "integrationStatus": integration,
                "integrationLatency": latency, "integrationErrorMessage": error,
            })
            .to_string()
        };
        let mut tally = AccessTally::default();
        for entry in [
            line("503", "-", "29990", "-"),
            line("503", "-", "-", "-"),
            line("502", "502", "40", "-"),
            line(
                "500",
                "200",
                "12",
                "The IAM role configured on the integration or API Gateway doesn't have \
                 permissions to call the integration. Check the permissions and try again.",
            ),
            line("200", "200", "30", "-"),
            "not json".to_owned(),
        ] {
            tally.add(ApiKind::Http, &fields, &entry);
        }
        assert_eq!(
            tally.statuses,
            [(500, 1), (502, 1), (503, 2)].into_iter().collect()
        );
        assert_eq!(
            tally.evidence.statuses,
            [(500, 1), (503, 2)].into_iter().collect(),
            "the backend's own 502 is not API Gateway's answer"
        );
        assert_eq!(
            tally.evidence.messages,
            [
                (ErrorClass::GatewayTimeout, 1),
                (ErrorClass::InternalError, 1)
            ]
            .into_iter()
            .collect()
        );
        assert_eq!(
            (
                tally.read.lines,
                tally.read.from_backend,
                tally.read.near_timeout
            ),
            (4, 1, 1)
        );
        assert_eq!(tally.read.slowest_integration_ms, Some(29_990.0));
        assert_eq!(tally.errors.len(), 1);
    }

    #[test]
    fn an_access_log_destination_names_its_group() {
        assert_eq!(
            log_group_of("arn:aws:logs:eu-west-1:111122223333:log-group:/aws/apigateway/x:*"),
            "/aws/apigateway/x"
        );
        assert_eq!(
            log_group_of("arn:aws-cn:logs:cn-north-1:1:log-group:team-logs"),
            "team-logs"
        );
    }
}
