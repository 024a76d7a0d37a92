use super::*;
use crate::core::kind::Service;

/// A fixture of tests/fixtures/cloudtrail/: an EventBridge event as SQS delivers it.
pub(crate) fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/cloudtrail/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn touches(name: &str) -> Option<Touches> {
    parse(&fixture(name), "apigw-guard")
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .map(|c| {
            assert_eq!(
                (c.account.as_str(), c.region.as_str()),
                ("123456789012", "us-east-1")
            );
            c.touches
        })
}

const BOTH: [ApiKind; 2] = [ApiKind::Rest, ApiKind::Http];

fn stages(stage: Option<&str>) -> Option<Touches> {
    Some(Touches::Stages {
        service: Service::V1,
        api_id: "a1b2c3d4e5".to_owned(),
        stage: stage.map(str::to_owned),
    })
}

fn http_stages(stage: Option<&str>) -> Option<Touches> {
    Some(Touches::Stages {
        service: Service::V2,
        api_id: "q1w2e3r4t5".to_owned(),
        stage: stage.map(str::to_owned),
    })
}

fn new_stage(service: Service, api_id: &str, stage: &str) -> Option<Touches> {
    Some(Touches::NewStage {
        service,
        api_id: api_id.to_owned(),
        stage: stage.to_owned(),
    })
}

fn api(service: Service, api_id: &str) -> Option<Touches> {
    Some(Touches::Api {
        service,
        api_id: Some(api_id.to_owned()),
    })
}

#[test]
fn each_call_touches_what_its_parameters_name() {
    let alarm = || Touches::Alarms {
        names: vec!["apigw-guard-payments_orders-prod_5xx".to_owned()],
    };
    let table: Vec<(&str, Option<Touches>)> = vec![
        ("update-stage", stages(Some("prod"))),
        ("delete-stage", stages(Some("prod"))),
        (
            "create-deployment",
            new_stage(Service::V1, "a1b2c3d4e5", "live-eu"),
        ),
        (
            "create-stage",
            new_stage(Service::V1, "a1b2c3d4e5", "canary"),
        ),
        ("create-rest-api", api(Service::V1, "n3wap1id00")),
        ("tag-resource", api(Service::V1, "a1b2c3d4e5")),
        ("update-http-stage", http_stages(Some("prod"))),
        ("update-http-stage-by-operator", http_stages(Some("prod"))),
        ("delete-http-stage", http_stages(Some("prod"))),
        ("delete-access-log-settings", http_stages(Some("prod"))),
        ("delete-route-settings", http_stages(Some("prod"))),
        ("create-route", http_stages(None)),
        ("update-api", http_stages(None)),
        (
            "create-http-deployment",
            new_stage(Service::V2, "q1w2e3r4t5", "prod"),
        ),
        (
            "create-http-stage",
            new_stage(Service::V2, "q1w2e3r4t5", "$default"),
        ),
        ("create-api", api(Service::V2, "n3wh77p000")),
        ("tag-http-api", api(Service::V2, "q1w2e3r4t5")),
        (
            "update-usage-plan",
            Some(Touches::UsagePlan {
                id: "x9y8z7".to_owned(),
            }),
        ),
        ("update-account", Some(Touches::Account)),
        ("put-metric-alarm", Some(alarm())),
        ("delete-alarms", Some(alarm())),
        ("disable-alarm-actions", Some(alarm())),
        ("alarm-state-change", Some(alarm())),
    ];
    for (name, expected) in table {
        assert_eq!(touches(name), expected, "{name}");
    }
}

#[test]
fn the_operators_own_writes_are_told_apart_by_its_session_name() {
    for (own, human) in [
        ("update-stage-by-operator", "update-stage"),
        ("update-http-stage-by-operator", "update-http-stage"),
    ] {
        assert!(
            parse(&fixture(own), "apigw-guard").unwrap().unwrap().own,
            "{own}"
        );
        assert!(
            !parse(&fixture(human), "apigw-guard").unwrap().unwrap().own,
            "{human}"
        );
    }
    // A role merely named like the session is not the operator's session.
    let lookalike =
        fixture("update-stage").replace("assumed-role/Admin/jane", "assumed-role/apigw-guard/jane");
    assert!(!parse(&lookalike, "apigw-guard").unwrap().unwrap().own);
}

#[test]
fn malformed_messages_are_errors_and_unkept_calls_are_nothing() {
    for body in [
        "",
        "not json",
        "[]",
        r#"{"detail-type":"AWS API Call via CloudTrail"}"#,
        r#"{"detail-type":"AWS API Call via CloudTrail","detail":{"awsRegion":"us-east-1"},"account":"1"}"#,
    ] {
        assert!(parse(body, "apigw-guard").is_err(), "{body:?}");
    }
    let read_only = fixture("update-stage").replace("\"UpdateStage\"", "\"GetStage\"");
    assert_eq!(parse(&read_only, "apigw-guard"), Ok(None));
    let other = r#"{"detail-type":"EC2 Instance State-change Notification","region":"us-east-1","account":"1","detail":{"state":"running"}}"#;
    assert_eq!(parse(other, "apigw-guard"), Ok(None));
}

#[test]
fn a_stage_named_at_the_top_of_the_parameters_is_taken_too() {
    let mut event: Value = serde_json::from_str(&fixture("create-stage")).unwrap();
    event["detail"]["requestParameters"] =
        serde_json::json!({"restApiId": "a1b2c3d4e5", "stageName": "canary"});
    let change = parse(&event.to_string(), "apigw-guard").unwrap().unwrap();
    assert_eq!(
        Some(change.touches),
        new_stage(Service::V1, "a1b2c3d4e5", "canary")
    );
}

#[test]
fn tagging_anything_but_an_api_touches_nothing() {
    for arn in [
        "arn:aws:apigateway:us-east-1::/apis/q1w2e3r4t5/stages/prod",
        "arn:aws:apigateway:us-east-1::/restapis/a1b2c3d4e5/stages/prod",
        "arn:aws:apigateway:us-east-1::/domainnames/api.example.com",
    ] {
        let body =
            fixture("tag-http-api").replace("arn:aws:apigateway:us-east-1::/apis/q1w2e3r4t5", arn);
        assert_eq!(parse(&body, "apigw-guard"), Ok(None), "{arn}");
    }
}

/// A guard of `kind` (`restApi`, `httpApi` or `websocketApi`) whose status resolved the API's id.
fn guard(name: &str, kind: &str, api_id: &str, stage: &str) -> ApiGatewayGuard {
    serde_yaml::from_str(&format!(
        "apiVersion: apigw-guard.dev/v1alpha1
kind: ApiGatewayGuard
metadata: {{name: {name}, namespace: payments}}
spec: {{{kind}: {{name: orders}}, stage: {stage}}}
status: {{apiId: {api_id}}}
"
    ))
    .unwrap()
}

fn concerned(fixture_name: &str, guards: &[ApiGatewayGuard]) -> Vec<String> {
    let change = parse(&fixture(fixture_name), "apigw-guard")
        .unwrap()
        .unwrap();
    guards
        .iter()
        .filter(|g| change.concerns(g, "us-east-1", None))
        .filter_map(|g| g.metadata.name.clone())
        .collect()
}

#[test]
fn an_event_concerns_only_guards_of_its_own_kind_of_api() {
    // A REST API and an HTTP API whose ids are the same string, each with a guard of `prod`.
    let guards = [
        guard("http", "httpApi", "q1w2e3r4t5", "prod"),
        guard("rest", "restApi", "q1w2e3r4t5", "prod"),
    ];
    for name in [
        "update-http-stage",
        "delete-http-stage",
        "delete-access-log-settings",
        "delete-route-settings",
        "create-http-deployment",
        "create-route",
        "update-api",
        "tag-http-api",
    ] {
        assert_eq!(concerned(name, &guards), ["http"], "{name}");
    }
    let rest = fixture("update-stage").replace("a1b2c3d4e5", "q1w2e3r4t5");
    let change = parse(&rest, "apigw-guard").unwrap().unwrap();
    assert!(!change.concerns(&guards[0], "us-east-1", None));
    assert!(change.concerns(&guards[1], "us-east-1", None));
    // Another stage of the same HTTP API is not this guard's.
    assert!(
        concerned(
            "update-http-stage",
            &[guard("http", "httpApi", "q1w2e3r4t5", "dev")]
        )
        .is_empty()
    );
}

#[test]
fn apis_and_stages_made_retagged_or_removed_may_change_what_policies_match() {
    for name in [
        "create-api",
        "update-api",
        "tag-http-api",
        "create-http-stage",
        "create-http-deployment",
        "delete-http-stage",
        "create-rest-api",
        "tag-resource",
        "delete-stage",
    ] {
        let change = parse(&fixture(name), "apigw-guard").unwrap().unwrap();
        assert!(change.may_change_matches("us-east-1", &BOTH), "{name}");
        assert!(!change.may_change_matches("eu-west-1", &BOTH), "{name}");
    }
    for name in [
        "update-http-stage",
        "delete-access-log-settings",
        "delete-route-settings",
        "create-route",
        "update-stage",
    ] {
        let change = parse(&fixture(name), "apigw-guard").unwrap().unwrap();
        assert!(!change.may_change_matches("us-east-1", &BOTH), "{name}");
    }
}

#[test]
fn a_policy_discovers_again_only_for_the_kinds_of_api_it_selects() {
    for (name, kind) in [
        ("create-api", ApiKind::Http),
        ("tag-http-api", ApiKind::Http),
        ("delete-http-stage", ApiKind::Http),
        ("create-rest-api", ApiKind::Rest),
        ("tag-resource", ApiKind::Rest),
        ("delete-stage", ApiKind::Rest),
    ] {
        let change = parse(&fixture(name), "apigw-guard").unwrap().unwrap();
        let other = BOTH.into_iter().find(|k| *k != kind).unwrap();
        assert!(change.may_change_matches("us-east-1", &[kind]), "{name}");
        assert!(!change.may_change_matches("us-east-1", &[other]), "{name}");
    }
}

/// v2's kinds share one space of ids, and a v2 call names the API by id alone: an event of a
/// v2 API concerns a WebSocket guard of it as it does an HTTP one (the id is one or the
/// other, never both), never a REST guard of the same string; a policy taking WebSocket APIs
/// discovers again on v2 calls, one taking REST APIs alone does not.
#[test]
fn a_v2_event_concerns_the_websocket_guards_of_its_api_as_the_http_ones() {
    let guards = [
        guard("socket", "websocketApi", "q1w2e3r4t5", "prod"),
        guard("rest", "restApi", "q1w2e3r4t5", "prod"),
    ];
    for name in [
        "update-http-stage",
        "delete-http-stage",
        "delete-route-settings",
        "create-route",
        "update-api",
        "tag-http-api",
    ] {
        assert_eq!(concerned(name, &guards), ["socket"], "{name}");
    }
    let change = parse(&fixture("create-api"), "apigw-guard")
        .unwrap()
        .unwrap();
    assert!(change.may_change_matches("us-east-1", &[ApiKind::WebSocket]));
    assert!(!change.may_change_matches("us-east-1", &[ApiKind::Rest]));
}
