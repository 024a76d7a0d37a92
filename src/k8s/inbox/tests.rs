use super::*;
use crate::core::cloudtrail::parse;
use crate::core::cloudtrail::tests::fixture;

fn guard(ns: &str, name: &str, stage: &str, api: &str, status: &str) -> Arc<ApiGatewayGuard> {
    kind_guard("restApi", ns, name, stage, api, status)
}

/// A guard of `kind` (`restApi` or `httpApi`).
fn kind_guard(
    kind: &str,
    ns: &str,
    name: &str,
    stage: &str,
    api: &str,
    status: &str,
) -> Arc<ApiGatewayGuard> {
    Arc::new(
        serde_yaml::from_str(&format!(
            "apiVersion: apigw-guard.dev/v1alpha1
kind: ApiGatewayGuard
metadata: {{name: {name}, namespace: {ns}}}
spec: {{{kind}: {{name: {api}}}, stage: {stage}}}
status: {{apiId: {api}, {status}}}
"
        ))
        .unwrap(),
    )
}

fn policy(name: &str, region: &str) -> Arc<ApiGatewayGuardPolicy> {
    kinds_policy(name, region, "[REST, HTTP]")
}

/// A policy selecting APIs of `kinds`, a YAML list.
fn kinds_policy(name: &str, region: &str, kinds: &str) -> Arc<ApiGatewayGuardPolicy> {
    Arc::new(
        serde_yaml::from_str(&format!(
            "apiVersion: apigw-guard.dev/v1alpha1
kind: ApiGatewayGuardPolicy
metadata: {{name: {name}, namespace: payments}}
spec: {{region: {region}, selector: {{apiKinds: {kinds}, stages: [prod]}}, template: {{}}}}
"
        ))
        .unwrap(),
    )
}

/// The guards of the table: the one every fixture names, and its neighbours.
fn guards() -> Vec<Arc<ApiGatewayGuard>> {
    vec![
        guard(
            "payments",
            "orders-prod",
            "prod",
            "a1b2c3d4e5",
            "usagePlanId: x9y8z7",
        ),
        guard(
            "payments",
            "orders-dev",
            "dev",
            "a1b2c3d4e5",
            "usagePlanId: other",
        ),
        guard(
            "search",
            "search-prod",
            "prod",
            "s3arch0000",
            "usagePlanId: x9y8z7",
        ),
        // The same id in another account: an AwsAccount's guard knows its account.
        guard(
            "other",
            "elsewhere",
            "prod",
            "a1b2c3d4e5",
            "accountId: '999999999999'",
        ),
        kind_guard(
            "httpApi",
            "payments",
            "orders-http-prod",
            "prod",
            "q1w2e3r4t5",
            "accessLogGroup: orders",
        ),
        // A REST API whose id is the HTTP API's: ids are unique only within a kind.
        guard(
            "payments",
            "legacy-prod",
            "prod",
            "q1w2e3r4t5",
            "usagePlanId: legacy",
        ),
    ]
}

fn mapped(name: &str) -> (Vec<String>, Vec<String>) {
    let change = parse(&fixture(name), "apigw-guard").unwrap().unwrap();
    let policies = [
        policy("fleet", "us-east-1"),
        policy("eu-fleet", "eu-west-1"),
        kinds_policy("rest-fleet", "us-east-1", "[REST]"),
    ];
    let found = map(
        &change,
        &guards(),
        &policies,
        |r| r.unwrap_or("us-east-1").to_owned(),
        |_| None,
    );
    let mut guards: Vec<String> = found.guards.iter().map(|g| g.name.clone()).collect();
    let mut policies: Vec<String> = found.policies.iter().map(|p| p.name.clone()).collect();
    guards.sort();
    policies.sort();
    (guards, policies)
}

#[test]
fn each_event_reconciles_the_guards_and_policies_it_concerns() {
    let table: Vec<(&str, &[&str], &[&str])> = vec![
        ("update-stage", &["orders-prod"], &[]),
        ("delete-stage", &["orders-prod"], &["fleet", "rest-fleet"]),
        ("create-deployment", &[], &["fleet", "rest-fleet"]),
        ("create-stage", &[], &["fleet", "rest-fleet"]),
        ("create-rest-api", &[], &["fleet", "rest-fleet"]),
        (
            "tag-resource",
            &["orders-dev", "orders-prod"],
            &["fleet", "rest-fleet"],
        ),
        ("update-usage-plan", &["orders-prod", "search-prod"], &[]),
        (
            "update-account",
            &[
                "legacy-prod",
                "orders-dev",
                "orders-http-prod",
                "orders-prod",
                "search-prod",
            ],
            &[],
        ),
        ("put-metric-alarm", &["orders-prod"], &[]),
        ("delete-alarms", &["orders-prod"], &[]),
        ("disable-alarm-actions", &["orders-prod"], &[]),
        ("alarm-state-change", &["orders-prod"], &[]),
        ("unrelated", &[], &[]),
        // The HTTP API's: its guard, never legacy-prod (a REST API of the same id), and only
        // the policies that select HTTP APIs.
        ("update-http-stage", &["orders-http-prod"], &[]),
        ("delete-http-stage", &["orders-http-prod"], &["fleet"]),
        ("delete-access-log-settings", &["orders-http-prod"], &[]),
        ("delete-route-settings", &["orders-http-prod"], &[]),
        ("create-route", &["orders-http-prod"], &[]),
        ("update-api", &["orders-http-prod"], &["fleet"]),
        ("create-http-deployment", &["orders-http-prod"], &["fleet"]),
        ("create-http-stage", &[], &["fleet"]),
        ("create-api", &[], &["fleet"]),
        ("tag-http-api", &["orders-http-prod"], &["fleet"]),
    ];
    for (name, guards, policies) in table {
        let (got_guards, got_policies) = mapped(name);
        assert_eq!(
            (got_guards.as_slice(), got_policies.as_slice()),
            (
                &guards.iter().map(|s| s.to_string()).collect::<Vec<_>>()[..],
                &policies.iter().map(|s| s.to_string()).collect::<Vec<_>>()[..]
            ),
            "{name}"
        );
    }
}

#[test]
fn a_burst_about_one_stage_asks_for_one_reconcile() {
    let change = parse(&fixture("update-stage"), "apigw-guard")
        .unwrap()
        .unwrap();
    let mut all = Mapped::default();
    for _ in 0..1000 {
        let found = map(
            &change,
            &guards(),
            &[],
            |r| r.unwrap_or("us-east-1").to_owned(),
            |_| None,
        );
        all.guards.extend(found.guards);
    }
    assert_eq!(all.guards.len(), 1);
}

#[test]
fn an_event_concerns_only_guards_and_policies_that_reach_its_account() {
    let change = parse(&fixture("delete-stage"), "apigw-guard")
        .unwrap()
        .unwrap();
    let policies = [policy("fleet", "us-east-1")];
    let region = |r: Option<&str>| r.unwrap_or("us-east-1").to_owned();
    // The operator's own identity reaches the event's account: its guards and policies count.
    let own = |_: Option<&str>| Some(change.account.clone());
    let found = map(&change, &guards(), &policies, region, own);
    assert!(found.guards.iter().any(|g| g.name == "orders-prod"));
    assert_eq!(found.policies.len(), 1);
    // It reaches another: the same API id and stage there are another stage.
    let elsewhere = |_: Option<&str>| Some("000011112222".to_owned());
    let found = map(&change, &guards(), &policies, region, elsewhere);
    assert!(found.guards.iter().all(|g| g.name != "orders-prod"));
    assert!(found.policies.is_empty());
}

#[test]
fn a_malformed_message_is_logged_with_its_control_characters_escaped() {
    let body = "{\"detail-type\": \"x\u{0}\u{1b}[31m\nforged line\"";
    let err = parse(body, "apigw-guard").unwrap_err();
    let line = crate::k8s::telemetry::logged(crate::k8s::telemetry::LogFormat::Text, || {
        log_malformed(&err, body)
    });
    assert_eq!(line.lines().count(), 1, "{line:?}");
    assert!(
        !line.contains(['\u{0}', '\u{1b}']),
        "control characters written as they are: {line:?}"
    );
    assert!(line.contains(r"x\0\u{1b}[31m\nforged line"), "{line:?}");
    assert!(
        line.contains("dropping a malformed events message"),
        "{line:?}"
    );
}
