//! Faults from AWS (throttling, 500s, dropped connections, delays), injected by a proxy in
//! front of the local AWS: every failure is reported, the other guards keep going, and once the
//! faults stop every guard converges with no duplicate alarms.

mod support;

use std::time::Duration;

use apigw_guard::aws::{CallLog, SdkApiGateway, SdkCloudWatch};
use apigw_guard::crd::{ApiGatewayGuardSpec, ApiGatewayGuardStatus};
use apigw_guard::model::GuardId;
use apigw_guard::model::Identity;
use apigw_guard::reconcile::{Report, reconcile};
use apigw_guard::status;
use aws_config::retry::RetryConfig;
use support::REGION;
use support::fault_proxy::{Fault, FaultProxy};

fn spec(name: &str) -> ApiGatewayGuardSpec {
    serde_yaml::from_str(&format!(
        "
restApi: {{name: {name}-api}}
stage: prod
tracing: {{enabled: true}}
executionLogging: {{level: ERROR, detailedMetrics: true}}
throttle: {{usagePlan: {{name: {name}-plan}}, rateLimit: 50, burstLimit: 100}}
stageThrottle: {{rateLimit: 200, burstLimit: 100}}
alarms: {{actions: ['arn:aws:sns:{REGION}:123456789012:oncall']}}
"
    ))
    .unwrap()
}

fn guard(name: &str) -> GuardId {
    GuardId {
        namespace: "faults".to_owned(),
        name: name.to_owned(),
    }
}

fn ready(status: &ApiGatewayGuardStatus) -> bool {
    status
        .conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// Every failed write and every unreadable guard shows up in status with its AWS code.
fn assert_reported(report: &Report, status: &ApiGatewayGuardStatus) {
    let problems: Vec<String> = status
        .conditions
        .iter()
        .filter(|c| c.status == "False" && c.type_ != "Reconciling" && c.type_ != "Stalled")
        .map(|c| format!("{} {} {}", c.type_, c.reason, c.message))
        .collect();
    for outcome in &report.outcomes {
        if let Err(err) = &outcome.result {
            for control in outcome.action.controls() {
                let shown = problems
                    .iter()
                    .any(|p| p.starts_with(control.condition_type()) && p.contains(&err.code));
                assert!(shown, "{err} on {control:?} is not in status: {problems:?}");
            }
        }
    }
    if let Err(err) = &report.observed {
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("Ready") && p.contains(&err.source.code)),
            "{problems:?}"
        );
    }
}

async fn alarm_count(name: &str) -> usize {
    let config = support::config(REGION).await;
    let out = aws_sdk_cloudwatch::Client::new(&config)
        .describe_alarms()
        .alarm_name_prefix(format!("apigw-guard-faults_{name}_"))
        .send()
        .await
        .unwrap();
    out.metric_alarms().len()
}

#[tokio::test]
async fn guards_converge_through_faults_and_one_failing_guard_does_not_stop_the_others() {
    let direct = support::config(REGION).await;
    support::set_log_role(&direct).await;
    let names = ["steady", "flaky", "blocked"];
    let mut api_ids = Vec::new();
    for name in names {
        let api = support::seed_api(&direct, &format!("{name}-api"), "prod").await;
        support::seed_usage_plan(&direct, &format!("{name}-plan"), &api, "prod").await;
        api_ids.push(api);
    }
    let proxy = FaultProxy::start(support::endpoint()).await;
    // No SDK retries: every fault reaches the operator's own handling.
    let config = support::config_at(REGION, &proxy.endpoint, RetryConfig::disabled()).await;
    let clients = support::unlimited_clients(&config);
    let calls = CallLog::default();
    let (apigateway, cloudwatch): (SdkApiGateway, SdkCloudWatch) = clients
        .per_guard_clients(&Identity::Own, None, &calls)
        .await;

    proxy.inject("UpdateStage", &api_ids[1], Fault::Throttle, 2);
    proxy.inject("PutMetricAlarm", "", Fault::ServerError, 2);
    proxy.inject("DescribeAlarms", "", Fault::Drop, 1);
    proxy.inject(
        "GetStage",
        &api_ids[1],
        Fault::Delay(Duration::from_millis(300)),
        2,
    );
    proxy.inject("UpdateUsagePlan", "", Fault::Throttle, 1);
    // The third guard's stage cannot be written at all until the faults are healed.
    proxy.inject("UpdateStage", &api_ids[2], Fault::ServerError, usize::MAX);

    let mut statuses: Vec<Option<ApiGatewayGuardStatus>> = vec![None; names.len()];
    let mut first_ready_round = vec![None; names.len()];
    for round in 1..=6 {
        if round == 4 {
            proxy.heal();
        }
        for (i, name) in names.iter().enumerate() {
            let report =
                reconcile(&apigateway, &cloudwatch, &guard(name), &spec(name), false).await;
            let status = status::build(
                &spec(name),
                Some(1),
                &report,
                statuses[i].as_ref(),
                &format!("t{round}"),
            );
            assert_reported(&report, &status);
            if ready(&status) && first_ready_round[i].is_none() {
                first_ready_round[i] = Some(round);
            }
            statuses[i] = Some(status);
        }
    }
    let injected = proxy.injected();
    println!(
        "faults injected: {}; first Ready round per guard {names:?}: {first_ready_round:?}",
        injected.len()
    );
    assert!(injected.len() >= 8, "{injected:?}");
    assert!(
        first_ready_round[0].unwrap() <= 3,
        "the steady guard converged while others failed: {first_ready_round:?}"
    );
    assert!(first_ready_round[1].unwrap() <= 3, "{first_ready_round:?}");
    assert!(
        first_ready_round[2].unwrap() >= 4,
        "the blocked guard waited for the heal: {first_ready_round:?}"
    );
    let blocked = statuses[2].as_ref().unwrap();
    assert!(ready(blocked));

    for name in names {
        assert_eq!(
            alarm_count(name).await,
            3,
            "{name}: exactly the guard's three alarms, no duplicates"
        );
        let mark = calls.len();
        let report = reconcile(&apigateway, &cloudwatch, &guard(name), &spec(name), false).await;
        assert!(report.plan.is_in_sync(), "{name}: {:?}", report.plan);
        assert!(
            calls.since(mark).iter().all(|c| !c.write),
            "{name}: in sync writes nothing"
        );
    }
}

#[tokio::test]
async fn a_throttled_write_is_reported_as_retryable_with_the_wait_aws_asked_for() {
    let direct = support::config(REGION).await;
    support::set_log_role(&direct).await;
    let api = support::seed_api(&direct, "throttled-api", "prod").await;
    support::seed_usage_plan(&direct, "throttled-plan", &api, "prod").await;
    let proxy = FaultProxy::start(support::endpoint()).await;
    let config = support::config_at(REGION, &proxy.endpoint, RetryConfig::disabled()).await;
    let (apigateway, cloudwatch) = support::unlimited_clients(&config)
        .per_guard_clients(&Identity::Own, None, &CallLog::default())
        .await;
    proxy.inject("UpdateStage", &api, Fault::Throttle, 1);

    let report = reconcile(
        &apigateway,
        &cloudwatch,
        &guard("throttled"),
        &spec("throttled"),
        false,
    )
    .await;
    let failed: Vec<_> = report
        .outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().err())
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].code, "TooManyRequestsException");
    assert!(failed[0].retryable);
    assert_eq!(failed[0].retry_after, Some(Duration::from_secs(1)));
    assert_eq!(
        report.outcomes.iter().filter(|o| o.result.is_ok()).count(),
        4,
        "the alarms and plan still went ahead"
    );
    let status = status::build(&spec("throttled"), Some(1), &report, None, "t");
    let reconciling = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Reconciling")
        .unwrap();
    assert_eq!(
        (reconciling.status.as_str(), reconciling.reason.as_str()),
        ("True", "TooManyRequestsException")
    );
    let stalled = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Stalled")
        .unwrap();
    assert_eq!(stalled.status, "False");
}
