//! Guards sharing reads against the local AWS: what a round of many guards costs, that a
//! write is never hidden by a listing read before it, and that ownership is read afresh
//! before any alarm write. Each test has a region of its own, so its listings hold only its
//! own REST APIs, usage plans and alarms.

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use apigw_guard::aws::{Call, CallLog, RegionalClients};
use apigw_guard::core::crd::ApiGatewayGuardSpec;
use apigw_guard::core::model::GuardId;
use apigw_guard::core::model::Identity;
use apigw_guard::core::report::Report;
use apigw_guard::core::status;
use apigw_guard::reconcile::Mode;
use apigw_guard::reconcile::reconcile;
use aws_config::SdkConfig;
use futures::future::join_all;
use support::fault_proxy::{Fault, FaultProxy};

/// A window no test outlasts: listings expire only when a test says so.
const LONG_WINDOW: Duration = Duration::from_secs(3600);

fn guard(name: &str) -> GuardId {
    GuardId {
        namespace: "shared".to_owned(),
        name: name.to_owned(),
    }
}

fn spec(name: &str, region: &str) -> ApiGatewayGuardSpec {
    serde_yaml::from_str(&format!(
        "
restApi: {{name: {name}-api}}
stage: prod
tracing: {{enabled: true}}
executionLogging: {{level: ERROR, dataTrace: false, detailedMetrics: true}}
throttle: {{usagePlan: {{name: {name}-plan}}, rateLimit: 100, burstLimit: 200}}
stageThrottle: {{rateLimit: 50, burstLimit: 100}}
alarms:
  actions: ['arn:aws:sns:{region}:123456789012:oncall']
"
    ))
    .unwrap()
}

/// Seeds `names` as REST APIs with a usage plan each, in `region` with a logging role;
/// returns the configuration and the REST API ids.
async fn seed(region: &str, names: &[&str]) -> (SdkConfig, Vec<String>) {
    let config = support::config(region).await;
    support::set_log_role(&config).await;
    let mut ids = Vec::new();
    for name in names {
        let api = support::seed_api(&config, &format!("{name}-api"), "prod").await;
        support::seed_usage_plan(&config, &format!("{name}-plan"), &api, "prod").await;
        ids.push(api);
    }
    (config, ids)
}

/// Reconciles every guard at once through `clients`; the reports and the calls they made.
async fn round(
    clients: &RegionalClients,
    region: &str,
    names: &[&str],
) -> (Vec<Report>, Vec<Call>) {
    let calls = CallLog::default();
    let (apigateway, cloudwatch) = clients.clients(&Identity::Own, None, &calls).await;
    let reports = join_all(names.iter().map(|name| {
        let (apigateway, cloudwatch) = (&apigateway, &cloudwatch);
        async move {
            reconcile(
                apigateway,
                cloudwatch,
                &guard(name),
                &spec(name, region),
                Mode::Apply,
            )
            .await
        }
    }))
    .await;
    (reports, calls.snapshot())
}

/// Calls by operation, reads and writes apart.
fn counts(calls: &[Call], write: bool) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for call in calls.iter().filter(|c| c.write == write) {
        *counts.entry(call.operation).or_default() += 1;
    }
    counts
}

fn ready(report: &Report, region: &str) -> bool {
    let name = &report.guard.name;
    let status = status::build(&spec(name, region), Some(1), report, None, "now");
    status
        .conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

#[tokio::test]
async fn a_round_of_guards_reads_each_listing_once_and_each_rest_api_once() {
    let region = "ap-southeast-2";
    let names = ["alpha", "bravo", "charlie", "delta"];
    let (config, _) = seed(region, &names).await;
    let clients = support::unlimited_clients(&config).share_reads_for(LONG_WINDOW);

    let (reports, cold) = round(&clients, region, &names).await;
    assert!(reports.iter().all(|r| ready(r, region)), "{reports:#?}");
    assert_eq!(
        counts(&cold, false),
        BTreeMap::from([
            ("GetRestApis", 1),
            ("GetUsagePlans", 1),
            ("GetAccount", 1),
            ("GetStages", 4),
            // One listing, then each guard's own alarms read afresh before it creates them.
            ("DescribeAlarms", 1 + 4),
            // The first guard's stage, then each newcomer's on its own.
            ("GetMetricData", 4),
        ]),
    );
    assert_eq!(
        counts(&cold, true),
        BTreeMap::from([
            ("UpdateStage", 4),
            ("PutMetricAlarm", 12),
            ("UpdateUsagePlan", 4),
        ]),
    );

    // Within the window, what the guards wrote is read from AWS, not from the listings.
    let (reports, after_writes) = round(&clients, region, &names).await;
    assert!(reports.iter().all(|r| r.plan.is_in_sync()), "{reports:#?}");
    assert_eq!(counts(&after_writes, true), BTreeMap::new());
    assert_eq!(
        counts(&after_writes, false),
        BTreeMap::from([
            ("GetStages", 4),
            ("GetUsagePlan", 4),
            // Alarms in sync need no tags read.
            ("DescribeAlarms", 4),
        ]),
    );

    // A resync round after the window: the listings and one GetStages per REST API.
    clients.expire_shared_reads();
    let (reports, steady) = round(&clients, region, &names).await;
    assert!(reports.iter().all(|r| r.plan.is_in_sync()), "{reports:#?}");
    assert_eq!(counts(&steady, true), BTreeMap::new());
    assert_eq!(
        counts(&steady, false),
        BTreeMap::from([
            ("GetRestApis", 1),
            ("GetUsagePlans", 1),
            ("GetAccount", 1),
            ("GetStages", 4),
            ("DescribeAlarms", 1),
            // Every stage's verification figures in one call.
            ("GetMetricData", 1),
        ]),
    );
}

#[tokio::test]
async fn a_change_by_hand_is_seen_once_the_window_has_passed() {
    let region = "ca-central-1";
    let (config, api_ids) = seed(region, &["hand"]).await;
    let clients = support::unlimited_clients(&config).share_reads_for(LONG_WINDOW);
    round(&clients, region, &["hand"]).await;
    round(&clients, region, &["hand"]).await;
    support::disable_tracing_by_hand(&config, &api_ids[0]).await;

    let (_, within) = round(&clients, region, &["hand"]).await;
    assert_eq!(
        counts(&within, true),
        BTreeMap::new(),
        "inside the window the listing read before the change stands"
    );
    clients.expire_shared_reads();
    let (reports, after) = round(&clients, region, &["hand"]).await;
    assert_eq!(counts(&after, true), BTreeMap::from([("UpdateStage", 1)]));
    assert!(
        reports[0].plan.actions[0]
            .to_string()
            .contains("/tracingEnabled false -> true"),
        "{:?}",
        reports[0].plan.actions
    );
}

#[tokio::test]
async fn ownership_is_read_afresh_before_an_alarm_is_written() {
    let region = "sa-east-1";
    let (config, _) = seed(region, &["early", "late"]).await;
    let clients = support::unlimited_clients(&config).share_reads_for(LONG_WINDOW);
    // The first guard fills the alarm listing while the second guard's names are free.
    round(&clients, region, &["early"]).await;
    let taken = "apigw-guard-shared_late_5xx";
    support::put_foreign_alarm(&config, taken, "5XXError", "someone/else", 99.0).await;

    let (reports, calls) = round(&clients, region, &["late"]).await;
    let alarms = reports[0]
        .plan
        .blockers
        .iter()
        .find(|b| b.reason == "Conflict");
    assert!(
        alarms.is_some_and(|b| b.message.contains("someone/else")),
        "{:#?}",
        reports[0].plan
    );
    assert_eq!(
        counts(&calls, true)["PutMetricAlarm"],
        2,
        "only the free names"
    );
    let foreign = aws_sdk_cloudwatch::Client::new(&config)
        .describe_alarms()
        .alarm_names(taken)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.metric_alarms()[0].threshold(), Some(99.0));
}

#[tokio::test]
async fn a_failed_shared_read_is_not_kept() {
    let region = "eu-north-1";
    let names = ["first", "second"];
    seed(region, &names).await;
    let proxy = FaultProxy::start(support::endpoint()).await;
    proxy.inject("GetRestApis", "", Fault::ServerError, 1);
    let config = support::config_at(
        region,
        &proxy.endpoint,
        aws_config::retry::RetryConfig::disabled(),
    )
    .await;
    let clients = support::unlimited_clients(&config).share_reads_for(LONG_WINDOW);

    let (reports, calls) = round(&clients, region, &names).await;
    let failed: Vec<bool> = reports.iter().map(|r| r.observed.is_err()).collect();
    assert_eq!(
        failed.iter().filter(|f| **f).count(),
        1,
        "the guard whose read failed reports it: {reports:#?}"
    );
    let err = reports
        .iter()
        .find_map(|r| r.observed.as_ref().err())
        .unwrap();
    assert!(err.source.retryable, "{err}");
    assert_eq!(
        counts(&calls, false)["GetRestApis"],
        2,
        "the other guard read again"
    );
    assert!(reports.iter().any(|r| ready(r, region)));
}

#[tokio::test]
async fn a_usage_plan_change_queued_behind_the_quota_holds_back_no_other_control() {
    use apigw_guard::aws::{Limit, Quota, RateLimits};
    let region = "ap-northeast-1";
    let names = ["first", "second"];
    let (config, _) = seed(region, &names).await;
    // AWS's one UpdateUsagePlan every 20 s; everything else as fast as the local AWS goes.
    let fast = Limit {
        per_second: 1000.0,
        burst: 1000,
    };
    let limits = RateLimits::new(
        Quota::ALL
            .into_iter()
            .filter(|q| *q != Quota::UsagePlanUpdate)
            .map(|q| (q, fast)),
    );
    let clients = RegionalClients::with_limits(config, std::sync::Arc::new(limits));
    let calls = CallLog::default();
    let (apigateway, cloudwatch) = clients.clients(&Identity::Own, None, &calls).await;
    let mut statuses = Vec::new();
    for name in names {
        let report = reconcile(
            &apigateway,
            &cloudwatch,
            &guard(name),
            &spec(name, region),
            Mode::Apply,
        )
        .await;
        statuses.push(status::build(
            &spec(name, region),
            Some(1),
            &report,
            None,
            "now",
        ));
    }
    assert_eq!(counts(&calls.snapshot(), true)["UpdateUsagePlan"], 1);
    let condition = |i: usize, type_: &str| {
        let c = statuses[i]
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .unwrap();
        (c.status.clone(), c.reason.clone(), c.message.clone())
    };
    assert_eq!(condition(0, "Ready").0, "True");
    let (state, reason, message) = condition(1, "Throttle");
    assert_eq!((state.as_str(), reason.as_str()), ("False", "QuotaQueued"));
    assert!(
        message.contains("one UpdateUsagePlan every 20 s") && message.contains("sent in 20 s"),
        "{message}"
    );
    for type_ in ["Tracing", "ExecutionLogging", "StageThrottle", "Alarms"] {
        assert_eq!(
            condition(1, type_).0,
            "True",
            "{type_}: {:?}",
            condition(1, type_)
        );
    }
    assert_eq!(condition(1, "Reconciling").0, "True");
    assert_eq!(condition(1, "Stalled").0, "False");
}

#[tokio::test]
async fn an_objective_budget_is_read_together_and_a_stage_new_since_waits_for_the_next_read() {
    use apigw_guard::aws::CloudWatch;
    use apigw_guard::core::model::{ApiKind, StageKey};
    // Not in the first or last seconds of an hour: the figures are read once an hour.
    let into_hour = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 3600;
    if !(10..3590).contains(&into_hour) {
        tokio::time::sleep(Duration::from_secs(20)).await;
    }
    let config = support::config("eu-north-1").await;
    let window = Duration::from_secs(2);
    let clients = support::unlimited_clients(&config).share_reads_for(window);
    let calls = CallLog::default();
    let (_, cloudwatch) = clients.clients(&Identity::Own, None, &calls).await;
    let stage = |api: &str| StageKey {
        kind: ApiKind::Rest,
        api: api.to_owned(),
        stage: "prod".to_owned(),
    };
    let read = |api: &'static str| {
        let cloudwatch = &cloudwatch;
        async move { cloudwatch.objective_metrics(&stage(api), 30).await.unwrap() }
    };
    let reads = || counts(&calls.snapshot(), false);
    // The first stage is read at once; two more asked within the window wait for the next
    // shared read rather than each costing a call.
    assert!(read("a").await.is_some());
    assert_eq!(reads(), BTreeMap::from([("GetMetricData", 1)]));
    assert_eq!((read("b").await, read("c").await), (None, None));
    assert_eq!(reads(), BTreeMap::from([("GetMetricData", 1)]));
    // A window on, the next ask reads every stage asked about in one call; the hour's
    // figures then stand for all of them.
    tokio::time::sleep(window).await;
    let b = read("b").await.expect("read with the others");
    assert_eq!(b.window_days, 30);
    assert!(read("c").await.is_some() && read("a").await.is_some());
    assert_eq!(reads(), BTreeMap::from([("GetMetricData", 2)]));
}

/// An API's route keys are kept an hour, not a window: a steady resync of a guard with route
/// throttles reads the stage, not the routes; an UpdateStage that names a route is planned on
/// keys read afresh (a route key AWS does not know would fail the whole call). Region of its
/// own: ap-southeast-1.
#[tokio::test]
async fn route_keys_are_read_before_a_route_is_written_not_on_every_resync() {
    let region = "ap-southeast-1";
    let config = support::config(region).await;
    support::seed_http_api(&config, "kept-routes", "$default", &["GET /orders"]).await;
    let window = Duration::from_millis(300);
    let clients = support::unlimited_clients(&config).share_reads_for(window);
    let spec = |rate: u32| -> ApiGatewayGuardSpec {
        serde_yaml::from_str(&format!(
            "
httpApi: {{name: kept-routes}}
stage: $default
stageThrottle:
  rateLimit: 100
  burstLimit: 50
  routes: {{'GET /orders': {{rateLimit: {rate}, burstLimit: 5}}}}
"
        ))
        .unwrap()
    };
    let once = |spec: ApiGatewayGuardSpec| {
        let clients = &clients;
        async move {
            let calls = CallLog::default();
            let (apigateway, cloudwatch) = clients.clients(&Identity::Own, None, &calls).await;
            Box::pin(reconcile(
                &apigateway,
                &cloudwatch,
                &guard("kept-routes"),
                &spec,
                Mode::Apply,
            ))
            .await;
            let made = calls.snapshot();
            (counts(&made, false), counts(&made, true))
        }
    };
    let (reads, writes) = once(spec(10)).await;
    assert_eq!(reads.get("GetRoutes"), Some(&1), "{reads:?}");
    assert_eq!(writes, BTreeMap::from([("UpdateStage", 1)]));

    // Resyncs after the window: the stage is read again, the routes are not.
    for _ in 0..2 {
        tokio::time::sleep(window * 2).await;
        let (reads, writes) = once(spec(10)).await;
        assert_eq!(writes, BTreeMap::new());
        assert_eq!(reads.get("GetStages"), Some(&1), "{reads:?}");
        assert_eq!(reads.get("GetRoutes"), None, "{reads:?}");
    }

    // The window ended by hand, as a resync after a long interval sees it: still not read.
    clients.expire_shared_reads();
    let (reads, _) = once(spec(10)).await;
    assert_eq!(reads.get("GetRoutes"), None, "{reads:?}");
    // An event about the region (a route made or removed among them): read again.
    clients.expire_region(region);
    let (reads, writes) = once(spec(10)).await;
    assert_eq!(reads.get("GetRoutes"), Some(&1), "{reads:?}");
    assert_eq!(writes, BTreeMap::new());

    // A route throttle changed: the keys, kept longer than a window, are read before the write.
    tokio::time::sleep(window * 2).await;
    let (reads, writes) = once(spec(20)).await;
    assert_eq!(reads.get("GetRoutes"), Some(&1), "{reads:?}");
    assert_eq!(writes, BTreeMap::from([("UpdateStage", 1)]));
}
