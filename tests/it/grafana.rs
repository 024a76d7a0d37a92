//! The Grafana dashboard (deploy/grafana) queries only metrics the operator exports, shows every
//! one of them, and the Helm chart ships the same file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use apigw_guard::aws::Call;
use apigw_guard::k8s::telemetry::Metrics;
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use serde_json::Value;

const DASHBOARD: &str = "deploy/grafana/apigw-guard-dashboard.json";
/// Helm reads files inside the chart only, so the chart carries a copy.
const CHART_COPY: &str = "deploy/helm/apigw-guard/dashboards/apigw-guard.json";

fn read(file: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap()
}

fn dashboard() -> Value {
    serde_json::from_slice(&read(DASHBOARD)).unwrap()
}

/// The metric families of /metrics and their kinds, from the `# TYPE name kind` lines.
/// prometheus-client leaves out a labelled family until it has a child, so one sample of each
/// is recorded first, and the count is checked against the registrations in src/k8s/telemetry.rs.
fn exported_families() -> BTreeMap<String, String> {
    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    metrics.reconciled("ready", 0.1);
    metrics.aws_calls(&[Call {
        service: "apigateway",
        operation: "GetStage",
        write: false,
        ok: true,
        waited: Duration::from_secs(1),
    }]);
    metrics.guard_ready("ns/guard", Some("true"));
    metrics.usage_plan_turn("ns/guard", true);
    metrics.event("mapped");
    let mut text = String::new();
    encode(&mut text, &registry).unwrap();
    let families: BTreeMap<_, _> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .map(|line| {
            let (name, kind) = line.split_once(' ').unwrap();
            (name.to_owned(), kind.to_owned())
        })
        .collect();
    let source = String::from_utf8(read("src/k8s/telemetry.rs")).unwrap();
    let registered = source.matches("registry.register(").count();
    assert_eq!(
        families.len(),
        registered,
        "src/k8s/telemetry.rs registers {registered} metrics but /metrics types {families:?}: \
         record a sample of the new one here"
    );
    families
}

/// The sample names PromQL sees for a family (OpenMetrics names a counter without `_total`).
fn sample_names(family: &str, kind: &str) -> Vec<String> {
    match kind {
        "counter" => vec![format!(
            "{}_total",
            family.strip_suffix("_total").unwrap_or(family)
        )],
        "histogram" => ["bucket", "sum", "count"]
            .map(|suffix| format!("{family}_{suffix}"))
            .to_vec(),
        "gauge" => vec![family.to_owned()],
        other => panic!("{family} is a {other}: add the sample names of a {other} here"),
    }
}

fn exported_samples(families: &BTreeMap<String, String>) -> BTreeSet<String> {
    families
        .iter()
        .flat_map(|(family, kind)| sample_names(family, kind))
        .collect()
}

/// Every `apigw_guard_*` metric name in a PromQL expression, each taken whole (letters, digits,
/// `_` and `:`), so that a misspelling cannot hide behind a valid prefix.
fn metric_names(expr: &str) -> Vec<&str> {
    let name_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    expr.match_indices("apigw_guard_")
        .filter(|(start, _)| !expr[..*start].ends_with(name_char))
        .map(|(start, _)| {
            let rest = &expr[start..];
            &rest[..rest.find(|c| !name_char(c)).unwrap_or(rest.len())]
        })
        .collect()
}

/// The names in `expr` that are no sample the operator exports.
fn unknown<'a>(expr: &'a str, exported: &BTreeSet<String>) -> Vec<&'a str> {
    metric_names(expr)
        .into_iter()
        .filter(|name| !exported.contains(*name))
        .collect()
}

/// The panels, those inside collapsed rows included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        all.push(panel);
        all.extend(panel["panels"].as_array().into_iter().flatten());
    }
    all
}

/// Every panel target's `expr`.
fn panel_exprs(dashboard: &Value) -> Vec<&str> {
    panels(dashboard)
        .into_iter()
        .flat_map(|panel| panel["targets"].as_array().into_iter().flatten())
        .filter_map(|target| target["expr"].as_str())
        .collect()
}

/// The query variables' queries (a string, or an object holding one).
fn variable_queries(dashboard: &Value) -> Vec<&str> {
    dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|variable| variable["type"] == "query")
        .filter_map(|variable| {
            let query = &variable["query"];
            query.as_str().or_else(|| query["query"].as_str())
        })
        .collect()
}

#[test]
fn the_dashboard_queries_only_exported_metrics() {
    let exported = exported_samples(&exported_families());
    let dashboard = dashboard();
    let exprs = panel_exprs(&dashboard);
    assert!(!exprs.is_empty(), "{DASHBOARD} has no panel targets");
    let mut wrong = Vec::new();
    for expr in exprs.into_iter().chain(variable_queries(&dashboard)) {
        assert!(
            !metric_names(expr).is_empty(),
            "no apigw_guard metric in `{expr}`"
        );
        wrong.extend(
            unknown(expr, &exported)
                .into_iter()
                .map(|name| (name, expr)),
        );
    }
    assert!(
        wrong.is_empty(),
        "{DASHBOARD} queries metrics the operator does not export (it exports {exported:?}): {wrong:#?}"
    );
}

#[test]
fn every_exported_metric_has_a_panel() {
    let dashboard = dashboard();
    let used: BTreeSet<&str> = panel_exprs(&dashboard)
        .into_iter()
        .flat_map(metric_names)
        .collect();
    let unused: Vec<_> = exported_families()
        .into_iter()
        .filter(|(family, kind)| {
            !sample_names(family, kind)
                .iter()
                .any(|name| used.contains(name.as_str()))
        })
        .collect();
    assert!(
        unused.is_empty(),
        "no panel of {DASHBOARD} shows {unused:?}"
    );
}

#[test]
fn every_panel_explains_itself_and_uses_the_datasource_variable() {
    let dashboard = dashboard();
    assert_eq!(dashboard["uid"], "apigw-guard");
    let datasource = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|variable| variable["name"] == "datasource")
        .expect("a `datasource` variable");
    assert_eq!(
        (&datasource["type"], &datasource["query"]),
        (&Value::from("datasource"), &Value::from("prometheus"))
    );
    for panel in panels(&dashboard) {
        if panel["type"] == "row" {
            continue;
        }
        let title = &panel["title"];
        let described = panel["description"].as_str().is_some_and(|d| !d.is_empty());
        assert!(described, "panel {title} has no description");
        let targets = panel["targets"].as_array().unwrap();
        for datasource in targets
            .iter()
            .map(|t| &t["datasource"])
            .chain([&panel["datasource"]])
        {
            assert_eq!(datasource["uid"], "${datasource}", "panel {title}");
        }
    }
}

#[test]
fn the_chart_ships_the_same_dashboard() {
    assert!(
        read(DASHBOARD) == read(CHART_COPY),
        "{CHART_COPY} differs from {DASHBOARD}: `cp {DASHBOARD} {CHART_COPY}`"
    );
}

#[test]
fn a_misspelled_metric_is_caught() {
    let families = exported_families();
    let exported = exported_samples(&families);
    let good = "sum by (le) (rate(apigw_guard_reconcile_duration_seconds_bucket[5m])) \
                / on() sum(apigw_guard_guards{ready=\"true\"})";
    assert_eq!(unknown(good, &exported), Vec::<&str>::new());
    for (expr, name) in [
        (
            "sum(rate(apigw_guard_reconcile_total[5m]))",
            "apigw_guard_reconcile_total",
        ),
        // A counter queried by its family name, without `_total`.
        ("rate(apigw_guard_aws_calls[5m])", "apigw_guard_aws_calls"),
        // A histogram queried by its family name, not one of its series.
        (
            "apigw_guard_reconcile_duration_seconds > 1",
            "apigw_guard_reconcile_duration_seconds",
        ),
        // A valid name as a prefix of a wrong one.
        ("max(apigw_guard_guards2)", "apigw_guard_guards2"),
    ] {
        assert_eq!(unknown(expr, &exported), [name], "{expr}");
    }
    // Extraction from a dashboard reaches the panels in collapsed rows.
    let fake = serde_json::json!({"panels": [
        {"type": "row", "panels": [{"targets": [{"expr": "apigw_guard_guard"}]}]}
    ]});
    assert_eq!(panel_exprs(&fake), ["apigw_guard_guard"]);
    assert_eq!(
        unknown(panel_exprs(&fake)[0], &exported),
        ["apigw_guard_guard"]
    );
}

/// The README's list of panels names every panel of the dashboard, in its order.
#[test]
fn the_readme_lists_every_panel_in_order() {
    let readme = String::from_utf8(read("README.md")).unwrap();
    let (_, list) = readme
        .split_once("**Grafana dashboard of the operator.**")
        .unwrap();
    let list = list.split("\n### ").next().unwrap();
    let listed: Vec<&str> = list
        .lines()
        .filter_map(|line| line.strip_prefix("- **"))
        .filter_map(|line| line.split_once("**").map(|(title, _)| title))
        .collect();
    let dashboard = dashboard();
    let titles: Vec<&str> = panels(&dashboard)
        .iter()
        .filter_map(|panel| panel["title"].as_str())
        .collect();
    assert_eq!(listed, titles);
}
