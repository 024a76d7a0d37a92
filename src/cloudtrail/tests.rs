use super::*;

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

fn stages(stage: Option<&str>) -> Option<Touches> {
    Some(Touches::Stages {
        api_id: "a1b2c3d4e5".to_owned(),
        stage: stage.map(str::to_owned),
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
            Some(Touches::NewStage {
                api_id: "a1b2c3d4e5".to_owned(),
                stage: "live-eu".to_owned(),
            }),
        ),
        (
            "create-stage",
            Some(Touches::NewStage {
                api_id: "a1b2c3d4e5".to_owned(),
                stage: "canary".to_owned(),
            }),
        ),
        (
            "create-rest-api",
            Some(Touches::Api {
                api_id: Some("n3wap1id00".to_owned()),
            }),
        ),
        (
            "tag-resource",
            Some(Touches::Api {
                api_id: Some("a1b2c3d4e5".to_owned()),
            }),
        ),
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
    let own = parse(&fixture("update-stage-by-operator"), "apigw-guard")
        .unwrap()
        .unwrap();
    assert!(own.own);
    let human = parse(&fixture("update-stage"), "apigw-guard")
        .unwrap()
        .unwrap();
    assert!(!human.own);
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
        change.touches,
        Touches::NewStage {
            api_id: "a1b2c3d4e5".to_owned(),
            stage: "canary".to_owned()
        }
    );
}
