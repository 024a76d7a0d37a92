//! The guard's CloudWatch dashboard (what the runbook's Step 1 looks at, built once instead
//! of by hand at night) and the AWS console links an incident starts from. Pure: the planner
//! compares this body with AWS's, and status shows the links.

use serde_json::{Value, json};

use crate::core::crd::{AlarmLink, ApiGatewayGuardSpec, Links, ObjectiveSpec};
use crate::core::kind::Metrics;
use crate::core::model::{
    AlarmKind, GuardId, GuardedApi, OWNER_TAG, ObjectivePart, access_log_group_name,
};
use crate::core::objective::rule_text;
use crate::core::runbook::{
    INTEGRATION_LATENCY_TARGET_MS, LATENCY_TARGET_MS, integration_timeout_ms, timeout_status,
};

const NAMESPACE: &str = "AWS/ApiGateway";
/// The graphs' resolution: one point a minute shows a short episode inside a long window.
const PERIOD: i32 = 60;

/// The names of the alarms the guard keeps and an incident looks at: the runbook's enabled
/// alarms in [`AlarmKind::ALL`] order (without the 5XX count alarm when `spec.slo` replaces
/// it, as it does unless `slo.countAlarm`), then the objective's composite alarms, one per
/// tier, fastest first: they are what pages, their metric alarms are only their parts.
pub fn wanted_alarms(guard: &GuardId, spec: &ApiGatewayGuardSpec) -> Vec<String> {
    let runbook = AlarmKind::ALL
        .into_iter()
        .filter(|kind| kind.is_kept(spec))
        .map(|kind| guard.alarm_name(kind));
    let tiers = spec
        .controls
        .slo
        .as_ref()
        .map_or(0, |slo| slo.tiers().len());
    let composites =
        (1..=tiers).map(|tier| guard.objective_alarm_name(tier, ObjectivePart::Composite));
    runbook.chain(composites).collect()
}

/// The dashboard the guard keeps: a text widget naming the guard (the ownership marker),
/// requests and errors with the 5XX share, Latency p50/p90/p99 against the 1 s target,
/// IntegrationLatency p99 against 500 ms and the integration timeout, and the guard's alarms;
/// with `spec.slo`, a row more: the error budget's burn rate against each tier's, and the
/// budget left over the objective's window. The metrics are the API kind's: a REST API's
/// `5XXError` by ApiName, an HTTP API's `5xx` by ApiId.
///
/// Long: it reads top to bottom as the dashboard does, one widget after another.
pub fn body(
    guard: &GuardId,
    spec: &ApiGatewayGuardSpec,
    api: &GuardedApi,
    region: &str,
    account_id: &str,
) -> Value {
    let stage = spec.stage.as_str();
    let dimensions: Vec<String> = api
        .dimensions(stage)
        .into_iter()
        .flat_map(|(name, value)| [name, value])
        .collect();
    let metric = |name: &str, options: Value| {
        let mut metric = vec![json!(NAMESPACE), json!(name)];
        metric.extend(dimensions.iter().map(|d| json!(d)));
        metric.push(options);
        Value::Array(metric)
    };
    let metrics = &api.kind.profile().metrics;
    let timeout_ms = integration_timeout_ms(api.kind);
    let timeout_line = format!(
        "Integration timeout: {:.0} s, then {}",
        timeout_ms / 1000.0,
        timeout_status(api.kind)
    );
    let graph = |title: &str, y: i32, x: i32, metrics: Vec<Value>, extra: Value| {
        let mut properties = json!({
            "title": title,
            "region": region,
            "view": "timeSeries",
            "period": PERIOD,
            "metrics": metrics,
        });
        if let (Value::Object(properties), Value::Object(extra)) = (&mut properties, extra) {
            properties.extend(extra);
        }
        json!({"type": "metric", "x": x, "y": y, "width": 12, "height": 6, "properties": properties})
    };
    let line = |label: &str, value: f64| json!({"label": label, "value": value});
    let mut traffic = vec![
        metric(
            metrics.traffic,
            json!({"id": "requests", "stat": "Sum", "label": metrics.traffic_label}),
        ),
        metric(
            metrics.client_errors,
            json!({"id": "fourxx", "stat": "Sum", "label": metrics.client_errors_label}),
        ),
    ];
    traffic.extend(server_errors(
        metric,
        metrics.server_errors,
        "fivexx",
        json!({"label": metrics.server_errors_label}),
    ));
    traffic.push(json!([{
        "expression": "100 * fivexx / requests",
        "id": "share",
        "label": format!("{} share (%)", metrics.server_errors_label),
        "yAxis": "right",
    }]));
    let beside = match (metrics.latency, metrics.connections) {
        (Some(latency), _) => graph(
            "Latency (p50, p90, p99)",
            3,
            12,
            ["p50", "p90", "p99"]
                .map(|stat| metric(latency, json!({"stat": stat, "label": stat})))
                .to_vec(),
            json!({
                "yAxis": {"left": {"label": "ms", "min": 0}},
                "annotations": {"horizontal": [
                    line("Runbook target: p99 under 1 s", LATENCY_TARGET_MS),
                ]},
            }),
        ),
        (None, connections) => graph(
            "Connections",
            3,
            12,
            connections
                .map(|name| metric(name, json!({"stat": "Sum", "label": "New connections"})))
                .into_iter()
                .collect(),
            json!({"stat": "Sum"}),
        ),
    };
    let mut widgets = vec![
        json!({
            "type": "text", "x": 0, "y": 0, "width": 24, "height": 3,
            "properties": {"markdown": markdown(guard, api, stage)},
        }),
        graph(
            &format!("{} and errors", metrics.traffic_label),
            3,
            0,
            traffic,
            json!({"stat": "Sum"}),
        ),
        beside,
        graph(
            "IntegrationLatency (p99)",
            9,
            0,
            vec![metric(
                "IntegrationLatency",
                json!({"stat": "p99", "label": "p99"}),
            )],
            json!({
                "yAxis": {"left": {"label": "ms", "min": 0}},
                "annotations": {"horizontal": [
                    line("Runbook target: p99 under 500 ms", INTEGRATION_LATENCY_TARGET_MS),
                    line(&timeout_line, timeout_ms),
                ]},
            }),
        ),
    ];
    let alarms: Vec<String> = wanted_alarms(guard, spec)
        .iter()
        .map(|name| alarm_arn(region, account_id, name))
        .collect();
    if !alarms.is_empty() {
        widgets.push(json!({
            "type": "alarm", "x": 12, "y": 9, "width": 12, "height": 6,
            "properties": {"title": "Alarms of this guard", "alarms": alarms},
        }));
    }
    if let Some(slo) = &spec.controls.slo {
        // A row below the last one (IntegrationLatency and the alarms: y 9, height 6).
        widgets.extend(objective_widgets(slo, region, 15, metric, metrics));
    }
    json!({"widgets": widgets})
}

/// The server errors' line(s) of the stage, as `id`: its one metric, or the sum of several
/// (each a hidden line of its own), with `options` (a label, or visibility).
fn server_errors(
    metric: impl Fn(&str, Value) -> Value,
    names: &[&str],
    id: &str,
    options: Value,
) -> Vec<Value> {
    let with = |mut base: Value| {
        if let (Value::Object(base), Value::Object(options)) = (&mut base, options.clone()) {
            base.extend(options);
        }
        base
    };
    match names {
        [one] => vec![metric(one, with(json!({"id": id, "stat": "Sum"})))],
        several => {
            let parts: Vec<String> = (0..several.len()).map(|n| format!("{id}_{n}")).collect();
            let mut lines: Vec<Value> = several
                .iter()
                .zip(&parts)
                .map(|(name, part)| {
                    metric(name, json!({"id": part, "stat": "Sum", "visible": false}))
                })
                .collect();
            lines.push(json!([with(json!({
                "expression": format!("SUM([{}])", parts.join(", ")),
                "id": id,
            }))]));
            lines
        }
    }
}

/// The objective's row at `y`: the burn rate (the 5XX share over the budget's, 1 spending the
/// budget exactly over the window) every 5 minutes against each tier's rate, and the budget
/// left over the window as one number. `metric` makes one of the stage's metrics, `metrics`
/// names the kind's.
fn objective_widgets(
    slo: &ObjectiveSpec,
    region: &str,
    y: i32,
    metric: impl Fn(&str, Value) -> Value,
    metrics: &Metrics,
) -> [Value; 2] {
    let budget = budget_text(slo);
    // The sums the expression divides, hidden: only the expression is drawn.
    let sums = |expression: Value| {
        let mut lines = server_errors(
            &metric,
            metrics.server_errors,
            "errors",
            json!({"visible": false}),
        );
        lines.push(metric(
            metrics.traffic,
            json!({"id": "requests", "stat": "Sum", "visible": false}),
        ));
        lines.push(json!([expression]));
        lines
    };
    let tiers: Vec<Value> = slo
        .tiers()
        .iter()
        .enumerate()
        .map(|(i, tier)| {
            json!({"label": format!("Tier {}: {}", i + 1, rule_text(tier)), "value": tier.burn_rate})
        })
        .collect();
    let burn = json!({
        "type": "metric", "x": 0, "y": y, "width": 12, "height": 6,
        "properties": {
            "title": "Error budget burn rate",
            "region": region,
            "view": "timeSeries",
            "period": 300,
            "metrics": sums(json!({
                "expression": format!("(errors / requests) / {budget}"),
                "id": "burn",
                "label": "Burn rate (1 = budget spent exactly over the window)",
            })),
            "yAxis": {"left": {"label": "x budget", "min": 0}},
            "annotations": {"horizontal": tiers},
        },
    });
    let days = slo.window_days;
    // One value over the whole window: the widget's own time range is the window, and its
    // period covers it.
    let left = json!({
        "type": "metric", "x": 12, "y": y, "width": 12, "height": 6,
        "properties": {
            "title": format!("Error budget left ({days} d)"),
            "region": region,
            "view": "singleValue",
            "start": format!("-P{days}D"),
            "period": days * 86_400,
            "setPeriodToTimeRange": true,
            "metrics": sums(json!({
                "expression": format!("100 * (1 - (errors / requests) / {budget})"),
                "id": "left",
                "label": "Budget left (%)",
            })),
        },
    });
    [burn, left]
}

/// The budget's share as an expression states it: `0.001` for 99.9 %, not the float's
/// `0.0010000000000000568`.
fn budget_text(slo: &ObjectiveSpec) -> String {
    let rounded = (slo.budget() * 1e12).round() / 1e12;
    rounded.to_string()
}

fn markdown(guard: &GuardId, api: &GuardedApi, stage: &str) -> String {
    let profile = api.kind.profile();
    let (heading, diagnose) = (profile.stage_marker, profile.diagnose_kind_flag());
    format!(
        "## {name}/{stage}{heading}: API Gateway 5XX runbook\n\
         Kept by apigw-guard for the ApiGatewayGuard `{guard}` (`{marker}`): edits made here \
         are put back, so change the guard instead.\n\n\
         Runbook targets: no 5XX, p99 Latency under 1 s, p99 IntegrationLatency under 500 ms; \
         past the {timeout:.0} s integration timeout clients get {status}. \
         Diagnose: `apigw-guard diagnose{diagnose} --api {name} --stage {stage}`.",
        name = api.name,
        marker = guard.dashboard_marker(),
        timeout = integration_timeout_ms(api.kind) / 1000.0,
        status = timeout_status(api.kind),
    )
}

/// The guard a dashboard body names as its owner (the marker in its text widget); `None`
/// when the body is not JSON or carries no marker: a dashboard someone else made.
pub fn owner(body: &str) -> Option<String> {
    let body: Value = serde_json::from_str(body).ok()?;
    let prefix = format!("{OWNER_TAG}=");
    body.get("widgets")?
        .as_array()?
        .iter()
        .filter(|widget| widget.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|widget| widget.pointer("/properties/markdown")?.as_str())
        .find_map(|markdown| {
            let (_, rest) = markdown.split_once(&prefix)?;
            let owner: String = rest
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '`' && *c != ')')
                .collect();
            (!owner.is_empty()).then_some(owner)
        })
}

/// Whether two bodies mean the same dashboard: JSON compared as values, numbers by value
/// (`1000` and `1000.0` alike), so AWS's formatting of a body is not drift.
pub fn same_meaning(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_meaning(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(key, a)| b.get(key).is_some_and(|b| same_meaning(a, b)))
        }
        (a, b) => a == b,
    }
}

/// The titles of the widgets of `want` that `have` lacks or shows otherwise, for plans.
pub fn differing_widgets(want: &Value, have: &Value) -> Vec<String> {
    let widgets = |body: &Value| body.get("widgets").and_then(Value::as_array).cloned();
    let (Some(want), Some(have)) = (widgets(want), widgets(have)) else {
        return vec!["the whole body".to_owned()];
    };
    let mut differ: Vec<String> = want
        .iter()
        .enumerate()
        .filter(|(i, widget)| !have.get(*i).is_some_and(|h| same_meaning(widget, h)))
        .map(|(_, widget)| {
            widget
                .pointer("/properties/title")
                .and_then(Value::as_str)
                .unwrap_or("text")
                .to_owned()
        })
        .collect();
    if have.len() > want.len() {
        differ.push(format!(
            "{} widget(s) added by hand",
            have.len() - want.len()
        ));
    }
    differ
}

/// The console links of a guard in `region`. A REST API stage's logs are its execution logs,
/// and its access logs while it writes them (`access_log_group`); an HTTP API has no
/// execution logs, so its link goes to the access log group: where the stage's access logs
/// go, or the guard's default group while the stage writes none.
pub fn links(
    guard: &GuardId,
    spec: &ApiGatewayGuardSpec,
    api: &GuardedApi,
    access_log_group: Option<&str>,
    region: &str,
) -> Links {
    let console = console(region);
    let cloudwatch = format!("{console}/cloudwatch/home?region={region}");
    // The logs console wants the group name encoded twice, with `$` for `%`.
    let group = |name: &str| {
        format!(
            "{cloudwatch}#logsV2:log-groups/log-group/{}",
            encode(&encode(name)).replace('%', "$")
        )
    };
    let profile = api.kind.profile();
    let stage = profile
        .console
        .stage_url(&console, region, &api.id, &encode(&spec.stage));
    let execution_logs = profile.execution_logs.then(|| {
        group(&format!(
            "API-Gateway-Execution-Logs_{}/{}",
            api.id, spec.stage
        ))
    });
    // Without execution logs, the access logs are where to look: the stage's group, or the
    // guard's default one while the stage writes none.
    let access_logs = match profile.execution_logs {
        true => access_log_group.map(group),
        false => Some(group(&access_log_group.map_or_else(
            || access_log_group_name(&api.id, &spec.stage),
            str::to_owned,
        ))),
    };
    Links {
        dashboard: spec
            .controls
            .dashboard
            .as_ref()
            .filter(|d| d.enabled)
            .map(|_| {
                format!(
                    "{cloudwatch}#dashboards/dashboard/{}",
                    guard.dashboard_name()
                )
            }),
        stage,
        execution_logs,
        access_logs,
        alarms: wanted_alarms(guard, spec)
            .into_iter()
            .map(|name| AlarmLink {
                url: format!("{cloudwatch}#alarmsV2:alarm/{}", encode(&name)),
                name,
            })
            .collect(),
    }
}

/// The console's address for `region`: China and GovCloud regions have their own.
fn console(region: &str) -> String {
    match crate::core::model::partition(region) {
        "aws-cn" => format!("https://{region}.console.amazonaws.cn"),
        "aws-us-gov" => "https://console.amazonaws-us-gov.com".to_owned(),
        _ => format!("https://{region}.console.aws.amazon.com"),
    }
}

fn alarm_arn(region: &str, account_id: &str, name: &str) -> String {
    format!(
        "arn:{}:cloudwatch:{region}:{account_id}:alarm:{name}",
        crate::core::model::partition(region)
    )
}

/// Percent-encodes all but RFC 3986's unreserved characters.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests;
