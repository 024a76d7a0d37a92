use super::*;
use crate::cloudtrail::parse;
use crate::cloudtrail::tests::fixture;

fn guard(ns: &str, name: &str, stage: &str, api: &str, status: &str) -> Arc<ApiGatewayGuard> {
    Arc::new(
        serde_yaml::from_str(&format!(
            "apiVersion: apigw-guard.dev/v1alpha1
kind: ApiGatewayGuard
metadata: {{name: {name}, namespace: {ns}}}
spec: {{restApi: {{name: {api}}}, stage: {stage}}}
status: {{restApiId: {api}, {status}}}
"
        ))
        .unwrap(),
    )
}

fn policy(name: &str, region: &str) -> Arc<ApiGatewayGuardPolicy> {
    Arc::new(
        serde_yaml::from_str(&format!(
            "apiVersion: apigw-guard.dev/v1alpha1
kind: ApiGatewayGuardPolicy
metadata: {{name: {name}, namespace: payments}}
spec: {{region: {region}, selector: {{stages: [prod]}}, template: {{}}}}
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
    ]
}

fn mapped(name: &str) -> (Vec<String>, Vec<String>) {
    let change = parse(&fixture(name), "apigw-guard").unwrap().unwrap();
    let policies = [
        policy("fleet", "us-east-1"),
        policy("eu-fleet", "eu-west-1"),
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
        ("delete-stage", &["orders-prod"], &["fleet"]),
        ("create-deployment", &[], &["fleet"]),
        ("create-stage", &[], &["fleet"]),
        ("create-rest-api", &[], &["fleet"]),
        ("tag-resource", &["orders-dev", "orders-prod"], &["fleet"]),
        ("update-usage-plan", &["orders-prod", "search-prod"], &[]),
        (
            "update-account",
            &["orders-dev", "orders-prod", "search-prod"],
            &[],
        ),
        ("put-metric-alarm", &["orders-prod"], &[]),
        ("delete-alarms", &["orders-prod"], &[]),
        ("disable-alarm-actions", &["orders-prod"], &[]),
        ("alarm-state-change", &["orders-prod"], &[]),
        ("unrelated", &[], &[]),
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
