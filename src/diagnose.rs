//! `apigw-guard diagnose`: the runbook's diagnosis steps for one stage, as a report. It only
//! reads: metrics (step 1), execution logs (step 2), the backend (step 3) and the API's
//! configuration and throttles (step 4), then names the likely error class and fills in the
//! runbook's resolution commands with the real ids. What cannot be read is a finding, not a
//! failure; only a missing REST API or stage ends it.

mod probe;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::aws::{ApiGateway, SdkDiagnostics};
use crate::crd::ResourceRef;
use crate::model::{
    Account, AwsError, LambdaFunction, LogMatches, MethodIntegration, MinutePeaks, StageMetrics,
};
use crate::runbook::{self, ErrorClass, Evidence, INTEGRATION_TIMEOUT_MS, Limits};
pub use probe::Probe;

/// The execution-log phrases of the runbook's step 2.
pub const PATTERNS: [&str; 3] = [
    "Execution failed",
    "Integration timeout",
    "Internal server error",
];

/// The whole report; `--output json` prints it as is.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Diagnosis {
    pub rest_api_id: String,
    pub rest_api_name: String,
    pub stage: String,
    pub region: String,
    pub window_seconds: i32,
    /// Step 1; `None` when CloudWatch could not be read.
    pub metrics: Option<Figures>,
    /// Step 2.
    pub execution_logging: Option<String>,
    pub log_group: String,
    pub log_matches: Vec<PatternMatches>,
    /// Requests that ended with each 5XX status (`Method completed with status:` lines).
    #[serde(rename = "completed5XX")]
    pub completed_5xx: BTreeMap<u16, usize>,
    /// The busiest and slowest minute of the window.
    pub peaks: Option<MinutePeaks>,
    /// Steps 3 and 4.
    pub integrations: Vec<MethodIntegration>,
    pub lambda_functions: Vec<LambdaFunction>,
    /// HTTP backends, with `--probe` only.
    pub probes: Vec<Probe>,
    pub stage_throttle: Option<Throttle>,
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

/// The function a Lambda integration URI invokes (its ARN), if it is one.
fn lambda_arn(uri: &str) -> Option<&str> {
    let (_, rest) = uri.split_once(":lambda:path/")?;
    let (_, rest) = rest.split_once("/functions/")?;
    rest.strip_suffix("/invocations")
}

/// The function's name from its ARN (`...:function:NAME[:QUALIFIER]`).
fn function_name(arn: &str) -> &str {
    arn.split_once(":function:")
        .map_or(arn, |(_, rest)| rest.split(':').next().unwrap_or(rest))
}

/// Runs the runbook's diagnosis for `api`/`stage` over the last `since`; with `probe`, also
/// sends each HTTP backend a HEAD request.
pub async fn diagnose(
    aws: &SdkDiagnostics,
    region: &str,
    api: &ResourceRef,
    stage: &str,
    since: Duration,
    probe: bool,
) -> Result<Diagnosis, AwsError> {
    let rest_api = aws.apigateway.find_rest_api(api).await?;
    let settings = aws.apigateway.get_stage(&rest_api.id, stage).await?;
    let mut findings = Vec::new();
    let window_seconds = i32::try_from((since.as_secs() / 60).max(1) * 60).unwrap_or(i32::MAX);

    // Step 1: the metrics.
    let key = (rest_api.name.clone(), stage.to_owned());
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

    // Step 2: execution logging and the execution log.
    let execution_logging = settings.all_methods.logging_level.clone();
    if execution_logging.as_deref().is_none_or(|l| l == "OFF") {
        findings.push(finding(
            2,
            Kind::Problem,
            "execution logging is off, so failures leave no trace: set spec.executionLogging \
             on the guard (level ERROR or INFO)",
        ));
    }
    let log_group = format!("API-Gateway-Execution-Logs_{}/{stage}", rest_api.id);
    let since_ms = SystemTime::now()
        .checked_sub(since)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64);
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

    // The strongest evidence of the class: how requests ended, and API Gateway's own words.
    let mut statuses = BTreeMap::new();
    let mut messages: BTreeMap<ErrorClass, usize> = BTreeMap::new();
    if log_matches.len() == PATTERNS.len() {
        match aws.completed_5xx(&log_group, since_ms).await {
            Ok(found) => statuses = found,
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
            *messages.entry(class).or_default() += count;
        }
    }
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
    let integrations = match aws.apigateway.integrations(&rest_api.id).await {
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
                *longest = (*longest).max(runbook::integration_timeout(integration));
            }
        }
    }
    let targets: Vec<(String, Duration)> = targets.into_iter().collect();
    let probes = probe::probe_all(&targets).await;

    // Step 4: throttles.
    let stage_throttle = settings.all_methods.rate_limit.map(|rate_limit| Throttle {
        rate_limit: Some(rate_limit),
        burst_limit: settings.all_methods.burst_limit,
    });
    let usage_plans: Vec<PlanThrottle> = match aws.apigateway.usage_plans().await {
        Ok(plans) => plans
            .into_iter()
            .filter(|(_, plan)| {
                plan.api_stages
                    .iter()
                    .any(|(api_id, s)| *api_id == rest_api.id && s == stage)
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
    };
    let account = match aws.apigateway.account().await {
        Ok(account) => Some(account),
        Err(err) => {
            findings.push(finding(4, Kind::Unavailable, format!("account: {err}")));
            None
        }
    };

    let mut diagnosis = Diagnosis {
        rest_api_id: rest_api.id,
        rest_api_name: rest_api.name,
        stage: stage.to_owned(),
        region: region.to_owned(),
        window_seconds,
        metrics: metrics.as_ref().map(figures),
        execution_logging,
        log_group,
        log_matches,
        completed_5xx: statuses,
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
    judge(&mut diagnosis, metrics.as_ref(), messages);
    Ok(diagnosis)
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

/// The findings the figures support, the likely class and its resolution.
fn judge(d: &mut Diagnosis, metrics: Option<&StageMetrics>, messages: BTreeMap<ErrorClass, usize>) {
    let limits = Limits {
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
            .filter(|t| f64::from(*t) * 1000.0 >= INTEGRATION_TIMEOUT_MS)
        {
            d.findings.push(finding(
                3,
                Kind::Problem,
                format!(
                    "Lambda function {} may run {timeout} s, past API Gateway's 29 s integration \
                     timeout: clients get 504 while it still runs",
                    function.name
                ),
            ));
        }
    }
    for p in &d.probes {
        let text = match (p.status, &p.error) {
            (Some(status), _) => format!("HEAD {} answered {status} in {} ms", p.url, p.elapsed_ms),
            (None, _) if p.timed_out() => format!(
                "HEAD {} got no answer within the {} ms integration timeout: API Gateway \
                 answers 504",
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
        statuses: d.completed_5xx.clone(),
        messages,
        probe_timeouts: d.probes.iter().filter(|p| p.timed_out()).count(),
        peaks: d.peaks.clone(),
        window: metrics.cloned(),
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

fn function_names(d: &Diagnosis) -> Vec<String> {
    d.lambda_functions
        .iter()
        .map(|f| function_name(&f.name).to_owned())
        .collect()
}

fn resolve_504(d: &Diagnosis) -> Vec<String> {
    let mut steps = vec![
        "Make the backend answer within 29 s: reduce its execution time, add a cache, optimize \
         its queries"
            .to_owned(),
        "Make long work asynchronous: queue it (SQS), answer 202 Accepted at once, offer a \
         status endpoint to poll"
            .to_owned(),
    ];
    for function in &d.lambda_functions {
        if function.timeout_seconds.is_some_and(|t| t > 28) {
            steps.push(format!(
                "aws lambda update-function-configuration --region {} --function-name {} --timeout 28",
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
        format!(
            "Check the integration response mappings and status codes: aws apigateway \
             get-resources --region {} --rest-api-id {} --embed methods",
            d.region, d.rest_api_id
        ),
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

fn shown<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// The report for people.
pub fn render_text(d: &Diagnosis) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Diagnosis of REST API {} ({}) stage {} in {}, last {} s",
        d.rest_api_name, d.rest_api_id, d.stage, d.region, d.window_seconds
    );
    let _ = writeln!(out, "\nStep 1: CloudWatch metrics");
    match &d.metrics {
        Some(m) => {
            let _ = writeln!(
                out,
                "  requests {}, 5XXError {} ({} %), 4XXError {}, p99 Latency {} ms, p99 IntegrationLatency {} ms",
                shown(m.requests),
                shown(m.five_xx_errors),
                shown(m.five_xx_share_percent.map(|p| format!("{p:.1}"))),
                shown(m.four_xx_errors),
                shown(m.latency_p99_ms),
                shown(m.integration_latency_p99_ms)
            );
        }
        None => {
            let _ = writeln!(out, "  (not read)");
        }
    }
    if let Some(peaks) = &d.peaks {
        let _ = writeln!(
            out,
            "  worst minute: {} requests/s, p99 IntegrationLatency {} ms",
            shown(peaks.rate.map(|r| format!("{r:.1}"))),
            shown(peaks.integration_latency_p99)
        );
    }
    let _ = writeln!(out, "\nStep 2: execution logs ({})", d.log_group);
    let _ = writeln!(
        out,
        "  execution logging: {}",
        d.execution_logging.as_deref().unwrap_or("OFF")
    );
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
            "  Lambda {}: state {}, timeout {} s",
            function_name(&f.name),
            shown(f.state.as_deref()),
            shown(f.timeout_seconds)
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
            runbook::integration_timeout(i).as_millis()
        );
    }
    let throttle = |rate: Option<f64>, burst: Option<i32>| {
        format!("{} requests/s, burst {}", shown(rate), shown(burst))
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
        let _ = writeln!(
            out,
            "  account throttle: {}; CloudWatch Logs role: {}",
            throttle(a.rate_limit, a.burst_limit),
            a.cloudwatch_role_arn.as_deref().unwrap_or("none")
        );
    }
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
    out
}
