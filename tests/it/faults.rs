//! Faults from AWS (throttling, 500s, dropped connections, delays), injected by a proxy in
//! front of the local AWS: every failure is reported, the other guards keep going, and once the
//! faults stop every guard converges with no duplicate alarms.

use crate::support;

use std::time::Duration;

use apigw_guard::aws::{CallLog, SdkApiGateway, SdkCloudWatch};
use apigw_guard::core::crd::{ApiGatewayGuardSpec, ApiGatewayGuardStatus};
use apigw_guard::core::model::GuardId;
use apigw_guard::core::model::Identity;
use apigw_guard::core::report::Report;
use apigw_guard::core::status;
use apigw_guard::reconcile::Mode;
use apigw_guard::reconcile::reconcile;
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
            let report = reconcile(
                &apigateway,
                &cloudwatch,
                &guard(name),
                &spec(name),
                Mode::Apply,
            )
            .await;
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
        let report = reconcile(
            &apigateway,
            &cloudwatch,
            &guard(name),
            &spec(name),
            Mode::Apply,
        )
        .await;
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
        Mode::Apply,
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

#[tokio::test]
async fn a_throttled_rollback_is_tried_again_and_a_refused_one_is_reported() {
    use apigw_guard::core::deploys::{REGRESSED, ROLLED_BACK, VERIFYING};
    use apigw_guard::reconcile::verify_deployment;
    let direct = support::config(REGION).await;
    let proxy = FaultProxy::start(support::endpoint()).await;
    let config = support::config_at(REGION, &proxy.endpoint, RetryConfig::disabled()).await;
    let (apigateway, cloudwatch) = support::unlimited_clients(&config)
        .per_guard_clients(&Identity::Own, None, &CallLog::default())
        .await;
    let apigw = aws_sdk_apigateway::Client::new(&direct);
    // Each case on a stage of its own: a deployment to it, then half its requests failing.
    let case = |name: &'static str| {
        let (direct, apigw, apigateway, cloudwatch) = (&direct, &apigw, &apigateway, &cloudwatch);
        async move {
            let api_name = format!("{name}-api");
            let api = support::seed_api(direct, &api_name, "prod").await;
            let spec: ApiGatewayGuardSpec = serde_yaml::from_str(&format!(
                "restApi: {{name: {api_name}}}\nstage: prod\ndeployments: {{rollback: Auto}}\n"
            ))
            .unwrap();
            let look = move |previous: Option<apigw_guard::core::crd::DeploymentStatus>| {
                let spec = spec.clone();
                async move {
                    let id = guard(name);
                    // Boxed: a test thread's stack is small, and the reconcile future is not.
                    let report =
                        Box::pin(reconcile(apigateway, cloudwatch, &id, &spec, Mode::Apply)).await;
                    Box::pin(verify_deployment(
                        apigateway,
                        cloudwatch,
                        &spec,
                        &report,
                        previous.as_ref(),
                        Mode::Apply,
                    ))
                    .await
                    .unwrap()
                    .status
                }
            };
            let first = look(None).await;
            apigw
                .create_deployment()
                .rest_api_id(&api)
                .stage_name("prod")
                .send()
                .await
                .unwrap();
            let opened = look(Some(first.clone())).await;
            assert_eq!(opened.verdict, VERIFYING, "{opened:?}");
            support::put_metrics_now(
                direct,
                ("ApiName", &api_name),
                &[("Count", 100.0), ("5XXError", 50.0)],
            )
            .await;
            (api, first, opened, look)
        }
    };
    // Throttled: still verifying, so the next look judges again and rolls back.
    let (api, first, opened, look) = case("throttled-rollback").await;
    proxy.inject("UpdateStage", &api, Fault::Throttle, 1);
    let throttled = look(Some(opened)).await;
    assert_eq!(throttled.verdict, VERIFYING, "{throttled:?}");
    assert!(
        throttled.message.contains(&format!(
            "rolling back to {} failed and is tried again: ",
            first.id
        )) && throttled.message.contains("TooManyRequestsException"),
        "{}",
        throttled.message
    );
    assert!(throttled.regressed.is_empty());
    let rolled = look(Some(throttled)).await;
    assert_eq!(
        (rolled.verdict.as_str(), rolled.id.as_str()),
        (ROLLED_BACK, first.id.as_str())
    );
    // Refused (AccessDenied): reported as a regression, not tried again.
    let (api, _, opened, look) = case("refused-rollback").await;
    proxy.inject("UpdateStage", &api, Fault::Deny, usize::MAX);
    let refused = look(Some(opened.clone())).await;
    assert_eq!(refused.verdict, REGRESSED, "{refused:?}");
    assert!(
        refused.message.contains("the rollback to") && refused.message.contains("AccessDenied"),
        "{}",
        refused.message
    );
    assert_eq!(refused.regressed, std::slice::from_ref(&opened.id));
    let again = look(Some(refused.clone())).await;
    assert_eq!(again, refused, "a regression's verdict is final");
}
