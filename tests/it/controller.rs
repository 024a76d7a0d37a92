//! The controller against a mocked Kubernetes API (tower-test) and the local AWS: each test
//! reads like the script of requests the operator must make, in order.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use apigw_guard::core::crd::{ApiGatewayGuard, ApiGatewayGuardStatus};
use apigw_guard::core::tenancy::OwnIdentity;
use apigw_guard::k8s::controller::{self, Context, FINALIZER};
use apigw_guard::k8s::recorder::Recorder;
use apigw_guard::k8s::telemetry::Metrics;
use apigw_guard::k8s::tenants::Tenants;
use aws_config::SdkConfig;
use http::{Method, Request, Response};
use kube::client::Body;
use kube::runtime::controller::Action;
use kube::runtime::events::Reporter;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use serde_json::{Value, json};
use support::REGION;
use tokio::task::JoinHandle;
use tower_test::mock::{self, Handle};

const NS: &str = "tests";
const GUARDS: &str = "/apis/apigw-guard.dev/v1alpha1/namespaces/tests/apigatewayguards";

/// The mocked API server: hands out requests one at a time, in the order they arrive.
struct ApiServer(Handle<Request<Body>, Response<Body>>);

/// One request the operator made, with its decoded JSON body.
struct Seen {
    method: Method,
    path: String,
    body: Value,
}

impl ApiServer {
    /// The next request; the response is built from it by `respond`.
    async fn next(&mut self, respond: impl FnOnce(&Seen) -> Value) -> Seen {
        let (request, send) = tokio::time::timeout(Duration::from_secs(30), self.0.next_request())
            .await
            .expect("the operator made a request in time")
            .expect("the operator made a request");
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let (group, resource, verb) = support::rbac_request(&method, &path);
        assert!(
            support::rbac_allows(&group, &resource, &verb),
            "deploy/rbac.yaml does not allow {verb} on {resource} ({group}), which the operator just did: {method} {path}"
        );
        let bytes = request.into_body().collect_bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let seen = Seen { method, path, body };
        let reply = respond(&seen);
        send.send_response(
            Response::builder()
                .body(Body::from(serde_json::to_vec(&reply).unwrap()))
                .unwrap(),
        );
        seen
    }

    /// Expects the JSON patch that adds the finalizer; answers with the finalized guard.
    async fn finalizer_added(&mut self, guard: &ApiGatewayGuard) {
        let seen = self
            .next(|_| serde_json::to_value(finalized(guard.clone())).unwrap())
            .await;
        assert_eq!(seen.method, Method::PATCH);
        assert_eq!(seen.path, format!("{GUARDS}/{}", guard.name_any()));
        assert!(
            seen.body.to_string().contains(FINALIZER),
            "finalizer patch: {}",
            seen.body
        );
    }

    /// Expects the JSON patch that removes the finalizer.
    async fn finalizer_removed(&mut self, guard: &ApiGatewayGuard) {
        let seen = self.next(|_| serde_json::to_value(guard).unwrap()).await;
        assert_eq!(seen.method, Method::PATCH);
        assert_eq!(seen.path, format!("{GUARDS}/{}", guard.name_any()));
        assert!(
            seen.body.to_string().contains("remove"),
            "finalizer removal: {}",
            seen.body
        );
    }

    /// Collects the events published until the status patch, which it returns with them.
    async fn events_then_status(
        &mut self,
        guard: &ApiGatewayGuard,
    ) -> (Vec<(String, String, String)>, ApiGatewayGuardStatus) {
        let mut events = Vec::new();
        loop {
            let seen = self
                .next(|seen| match seen.method {
                    Method::POST => seen.body.clone(),
                    _ => serde_json::to_value(guard).unwrap(),
                })
                .await;
            match (&seen.method, seen.path.as_str()) {
                (&Method::POST, "/apis/events.k8s.io/v1/namespaces/tests/events") => {
                    events.push(event_of(&seen.body))
                }
                // A repeat of an earlier event, recorded as a series.
                (&Method::PATCH, path)
                    if path.starts_with("/apis/events.k8s.io/v1/namespaces/tests/events/") =>
                {
                    events.push(event_of(&seen.body))
                }
                (&Method::PATCH, path)
                    if path == format!("{GUARDS}/{}/status", guard.name_any()) =>
                {
                    assert_eq!(seen.body["apiVersion"], "apigw-guard.dev/v1alpha1");
                    assert_eq!(seen.body["kind"], "ApiGatewayGuard");
                    let status = serde_json::from_value(seen.body["status"].clone()).unwrap();
                    return (events, status);
                }
                (method, path) => panic!("unexpected request {method} {path}: {}", seen.body),
            }
        }
    }

    /// Expects the next request to publish an event; returns it.
    async fn event(&mut self) -> (String, String, String) {
        let seen = self.next(|seen| seen.body.clone()).await;
        assert_eq!(seen.method, Method::POST);
        assert_eq!(seen.path, "/apis/events.k8s.io/v1/namespaces/tests/events");
        event_of(&seen.body)
    }
}

/// (type, reason, note) of a published event.
fn event_of(body: &Value) -> (String, String, String) {
    let text = |key: &str| body[key].as_str().unwrap_or_default().to_owned();
    (text("type"), text("reason"), text("note"))
}

fn finalized(mut guard: ApiGatewayGuard) -> ApiGatewayGuard {
    guard.finalizers_mut().push(FINALIZER.to_owned());
    guard
}

fn deleting(mut guard: ApiGatewayGuard) -> ApiGatewayGuard {
    guard.meta_mut().deletion_timestamp = Some(
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now()),
    );
    guard
}

/// A context whose Kubernetes client talks to the mock and whose AWS is the local AWS.
async fn context(config: &SdkConfig) -> (Arc<Context>, ApiServer) {
    let (ctx, server, _) = context_with_store(config).await;
    (ctx, server)
}

/// [`context`], with the writer of the store of watched guards.
async fn context_with_store(
    config: &SdkConfig,
) -> (Arc<Context>, ApiServer, Writer<ApiGatewayGuard>) {
    let (guards, mut writer) = kube::runtime::reflector::store();
    // The first listing is done and found none: guards come after, as watch events.
    writer.apply_watcher_event(&watcher::Event::Init);
    writer.apply_watcher_event(&watcher::Event::InitDone);
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, NS);
    let mut registry = prometheus_client::registry::Registry::default();
    let reporter = Reporter {
        controller: "apigw-guard".to_owned(),
        instance: Some("test".to_owned()),
    };
    let ctx = Context::new(
        client.clone(),
        // Each step reads AWS afresh, as a resync does once the shared-read window has passed.
        Arc::new(support::unlimited_clients(config).share_reads_for(Duration::ZERO)),
        Recorder::new(client, reporter),
        Arc::new(Metrics::register(&mut registry)),
        Duration::from_secs(300),
        guards,
        // Guards without an account, open to every namespace: no store is asked.
        Arc::new(Tenants::new(
            kube::runtime::reflector::store().0,
            kube::runtime::reflector::store().0,
            OwnIdentity::All,
        )),
    );
    (Arc::new(ctx), ApiServer(handle), writer)
}

/// A guard on a freshly seeded API `{name}-api` with a usage plan serving its prod stage.
async fn seeded_guard(config: &SdkConfig, name: &str, extra: &str) -> ApiGatewayGuard {
    let api = support::seed_api(config, &format!("{name}-api"), "prod").await;
    support::seed_usage_plan(config, &format!("{name}-plan"), &api, "prod").await;
    let mut guard: ApiGatewayGuard = serde_yaml::from_str(&format!(
        "
apiVersion: apigw-guard.dev/v1alpha1
kind: ApiGatewayGuard
metadata: {{name: {name}, namespace: {NS}, generation: 1, uid: uid-{name}}}
spec:
  region: {REGION}
  restApi: {{name: {name}-api}}
  stage: prod
  tracing: {{enabled: true}}
  executionLogging: {{level: ERROR, detailedMetrics: true}}
  throttle: {{usagePlan: {{name: {name}-plan}}, rateLimit: 100, burstLimit: 200}}
  stageThrottle: {{rateLimit: 500, burstLimit: 250}}
  alarms: {{actions: ['arn:aws:sns:{REGION}:123456789012:oncall']}}
{extra}"
    ))
    .unwrap();
    guard.meta_mut().resource_version = Some("1".to_owned());
    guard
}

/// One reconcile of `guard` that ends in a status write: the events published before it and
/// the status written; the reconcile itself succeeded.
async fn reconciled(
    ctx: &Arc<Context>,
    server: &mut ApiServer,
    guard: &ApiGatewayGuard,
) -> (Vec<(String, String, String)>, ApiGatewayGuardStatus) {
    let task = run(ctx, guard);
    let written = server.events_then_status(guard).await;
    task.await.unwrap().unwrap();
    written
}

fn run(
    ctx: &Arc<Context>,
    guard: &ApiGatewayGuard,
) -> JoinHandle<Result<Action, apigw_guard::k8s::toolkit::Error>> {
    tokio::spawn(controller::reconcile(Arc::new(guard.clone()), ctx.clone()))
}

/// The id of the REST API named `api_name`.
async fn api_id(config: &SdkConfig, api_name: &str) -> String {
    let apis = aws_sdk_apigateway::Client::new(config)
        .get_rest_apis()
        .send()
        .await
        .unwrap();
    let api = apis
        .items()
        .iter()
        .find(|a| a.name() == Some(api_name))
        .unwrap();
    api.id().unwrap().to_owned()
}

async fn tracing_enabled(config: &SdkConfig, api_name: &str) -> bool {
    support::tracing_enabled(config, &api_id(config, api_name).await, "prod").await
}

#[tokio::test]
async fn create_adds_the_finalizer_first_then_writes_aws_then_reports_status() {
    let config = support::config(REGION).await;
    support::set_log_role(&config).await;
    let guard = seeded_guard(&config, "create", "").await;
    let (ctx, mut server) = context(&config).await;

    let task = run(&ctx, &guard);
    server.finalizer_added(&guard).await;
    task.await.unwrap().unwrap();
    assert!(
        !tracing_enabled(&config, "create-api").await,
        "no AWS write before the finalizer"
    );
    assert_eq!(
        support::alarm_names(&config, "apigw-guard-tests_create_")
            .await
            .len(),
        0
    );

    let guard = finalized(guard);
    let task = run(&ctx, &guard);
    let (events, status) = server.events_then_status(&guard).await;
    let action = task.await.unwrap().unwrap();
    assert_eq!(
        action,
        Action::requeue(Duration::from_secs(300)),
        "resync when in sync"
    );
    let reasons: Vec<&str> = events
        .iter()
        .map(|(_, reason, _)| reason.as_str())
        .collect();
    assert_eq!(
        reasons,
        [
            "TracingEnabled",
            "ExecutionLoggingUpdated",
            "StageThrottleUpdated",
            "AlarmCreated",
            "UsagePlanThrottleUpdated",
        ]
    );
    let created = &events[3].2;
    for suffix in ["5xx", "latency", "integration-latency"] {
        assert!(
            created.contains(&format!("apigw-guard-tests_create_{suffix} (create")),
            "{created}"
        );
    }
    assert!(events.iter().all(|(type_, _, _)| type_ == "Normal"));
    assert_eq!(
        support::condition(&status, "Ready"),
        ("True", "Guarded", "5/5 controls in sync")
    );
    assert_eq!(support::condition(&status, "Stalled").0, "False");
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(status.alarm_summary.as_deref(), Some("3 INSUFFICIENT_DATA"));
    assert!(tracing_enabled(&config, "create-api").await);
    assert_eq!(
        support::alarm_names(&config, "apigw-guard-tests_create_")
            .await
            .len(),
        3
    );

    // The next resync of the unchanged guard: no events, no AWS writes, status still Ready.
    let mut synced = guard.clone();
    synced.status = Some(status);
    let (events, status) = reconciled(&ctx, &mut server, &synced).await;
    assert_eq!(events, []);
    assert_eq!(support::condition(&status, "Ready").0, "True");
    assert_eq!(support::condition(&status, "Tracing").1, "InSync");
}

#[tokio::test]
async fn drift_is_put_back_and_reported() {
    let config = support::config(REGION).await;
    support::set_log_role(&config).await;
    let guard = finalized(seeded_guard(&config, "drifted", "").await);
    let (ctx, mut server) = context(&config).await;
    let (_, status) = reconciled(&ctx, &mut server, &guard).await;

    support::disable_tracing_by_hand(&config, &api_id(&config, "drifted-api").await).await;

    let mut synced = guard.clone();
    synced.status = Some(status);
    let (events, status) = reconciled(&ctx, &mut server, &synced).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let (type_, reason, note) = &events[0];
    assert_eq!(
        (type_.as_str(), reason.as_str()),
        ("Warning", "DriftCorrected")
    );
    assert!(note.contains("/tracingEnabled false -> true"), "{note}");
    assert_eq!(support::condition(&status, "Ready").0, "True");
    assert!(tracing_enabled(&config, "drifted-api").await);
}

#[tokio::test]
async fn delete_with_delete_policy_removes_only_owned_alarms() {
    let config = support::config(REGION).await;
    support::set_log_role(&config).await;
    let guard = finalized(seeded_guard(&config, "deleted", "").await);
    let (ctx, mut server) = context(&config).await;
    reconciled(&ctx, &mut server, &guard).await;
    // Someone else's alarm that shares the guard's name prefix.
    support::put_foreign_alarm(
        &config,
        "apigw-guard-tests_deleted_custom",
        "Count",
        "team/other",
        1.0,
    )
    .await;
    assert_eq!(
        support::alarm_names(&config, "apigw-guard-tests_deleted_")
            .await
            .len(),
        4
    );

    let guard = deleting(guard);
    let task = run(&ctx, &guard);
    let (type_, reason, note) = server.event().await;
    assert_eq!(
        (type_.as_str(), reason.as_str()),
        ("Normal", "AlarmDeleted")
    );
    assert!(note.contains("apigw-guard-tests_deleted_5xx"), "{note}");
    server.finalizer_removed(&guard).await;
    task.await.unwrap().unwrap();
    assert_eq!(
        support::alarm_names(&config, "apigw-guard-tests_deleted_").await,
        ["apigw-guard-tests_deleted_custom"]
    );
    assert!(
        tracing_enabled(&config, "deleted-api").await,
        "stage settings are never switched off"
    );
}

#[tokio::test]
async fn delete_with_delete_policy_removes_the_guards_dashboard_too() {
    let config = support::config(REGION).await;
    support::set_log_role(&config).await;
    let guard = finalized(seeded_guard(&config, "boarded", "  dashboard: {}\n").await);
    let (ctx, mut server) = context(&config).await;
    let (events, status) = reconciled(&ctx, &mut server, &guard).await;
    assert_eq!(support::condition(&status, "Dashboard").0, "True");
    assert!(
        events
            .iter()
            .any(|(_, reason, _)| reason == "DashboardCreated"),
        "{events:?}"
    );
    assert!(
        support::dashboard(&config, "apigw-guard-tests_boarded")
            .await
            .is_some()
    );

    let guard = deleting(guard);
    let task = run(&ctx, &guard);
    assert_eq!(server.event().await.1, "AlarmDeleted");
    let (type_, reason, note) = server.event().await;
    assert_eq!(
        (type_.as_str(), reason.as_str(), note.as_str()),
        (
            "Normal",
            "DashboardDeleted",
            "deleted owned dashboard apigw-guard-tests_boarded"
        )
    );
    server.finalizer_removed(&guard).await;
    task.await.unwrap().unwrap();
    assert_eq!(
        support::dashboard(&config, "apigw-guard-tests_boarded").await,
        None
    );
}

#[tokio::test]
async fn delete_with_retain_policy_removes_nothing() {
    let config = support::config(REGION).await;
    support::set_log_role(&config).await;
    let guard = finalized(seeded_guard(&config, "retained", "  deletionPolicy: Retain\n").await);
    let (ctx, mut server) = context(&config).await;
    reconciled(&ctx, &mut server, &guard).await;

    let guard = deleting(guard);
    let task = run(&ctx, &guard);
    let (_, reason, _) = server.event().await;
    assert_eq!(reason, "Retained");
    server.finalizer_removed(&guard).await;
    task.await.unwrap().unwrap();
    assert_eq!(
        support::alarm_names(&config, "apigw-guard-tests_retained_")
            .await
            .len(),
        3
    );
}

#[tokio::test]
async fn a_suspended_guard_writes_nothing_to_aws() {
    let config = support::config(REGION).await;
    support::set_log_role(&config).await;
    let guard = finalized(seeded_guard(&config, "suspended", "  suspend: true\n").await);
    let (ctx, mut server) = context(&config).await;
    let (events, status) = reconciled(&ctx, &mut server, &guard).await;
    assert_eq!(events, []);
    let (state, reason, message) = support::condition(&status, "Ready");
    assert_eq!((state, reason), ("False", "Suspended"));
    assert!(message.contains("change(s) pending"), "{message}");
    assert!(!tracing_enabled(&config, "suspended-api").await);
    assert_eq!(
        support::alarm_names(&config, "apigw-guard-tests_suspended_")
            .await
            .len(),
        0
    );
}

#[tokio::test]
async fn a_permanent_aws_error_stalls_with_the_aws_code() {
    let config = support::config(REGION).await;
    let mut guard = finalized(seeded_guard(&config, "broken", "").await);
    guard.spec.rest_api = Some(apigw_guard::core::crd::ResourceRef {
        name: Some("broken-missing-api".to_owned()),
        id: None,
    });
    let (ctx, mut server) = context(&config).await;
    let task = run(&ctx, &guard);
    let (events, status) = server.events_then_status(&guard).await;
    let action = task.await.unwrap().unwrap();
    assert_eq!(
        action,
        Action::requeue(Duration::from_secs(300)),
        "wait for a spec change or the resync"
    );
    let (state, reason, message) = support::condition(&status, "Stalled");
    assert_eq!((state, reason), ("True", "NotFoundException"));
    assert!(
        message.contains("REST API named \"broken-missing-api\""),
        "{message}"
    );
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0].0.as_str(), events[0].1.as_str()),
        ("Warning", "NotFoundException")
    );

    // The same failure on the next resync is neither announced again nor written: the
    // reconcile ends without a request (one would wait forever, since nobody answers it).
    let mut again = guard.clone();
    again.status = Some(status);
    run(&ctx, &again).await.unwrap().unwrap();
}

#[test]
fn status_writes_do_not_trigger_work() {
    let guard: ApiGatewayGuard = serde_json::from_value(json!({
        "apiVersion": "apigw-guard.dev/v1alpha1", "kind": "ApiGatewayGuard",
        "metadata": {"name": "g", "namespace": NS, "generation": 2, "finalizers": [FINALIZER]},
        "spec": {"restApi": {"name": "a"}, "stage": "prod"}
    }))
    .unwrap();
    let base = controller::work_trigger(&guard);
    let mut with_status = guard.clone();
    with_status.status = Some(ApiGatewayGuardStatus::default());
    with_status.meta_mut().resource_version = Some("99".to_owned());
    assert_eq!(controller::work_trigger(&with_status), base);
    let mut new_generation = guard.clone();
    new_generation.meta_mut().generation = Some(3);
    assert_ne!(controller::work_trigger(&new_generation), base);
    assert_ne!(controller::work_trigger(&deleting(guard.clone())), base);
    let mut no_finalizer = guard;
    no_finalizer.finalizers_mut().clear();
    assert_ne!(controller::work_trigger(&no_finalizer), base);
}

#[tokio::test]
async fn two_guards_on_one_stage_the_older_wins() {
    let config = support::config(REGION).await;
    support::set_log_role(&config).await;
    let younger = finalized(seeded_guard(&config, "claimed", "").await);
    let (ctx, mut server, mut store) = context_with_store(&config).await;
    let api_id = api_id(&config, "claimed-api").await;

    let when =
        |text: &str| k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(text.parse().unwrap());
    let mut older = younger.clone();
    older.metadata.name = Some("claimed-first".to_owned());
    older.metadata.uid = Some("uid-claimed-first".to_owned());
    older.metadata.creation_timestamp = Some(when("2026-01-01T00:00:00Z"));
    older.spec.rest_api = Some(apigw_guard::core::crd::ResourceRef {
        name: None,
        id: Some(api_id.clone()),
    });
    let mut younger = younger;
    younger.metadata.creation_timestamp = Some(when("2026-06-01T00:00:00Z"));
    store.apply_watcher_event(&watcher::Event::Apply(older.clone()));
    store.apply_watcher_event(&watcher::Event::Apply(younger.clone()));

    let (events, status) = reconciled(&ctx, &mut server, &younger).await;
    let (state, reason, message) = support::condition(&status, "Stalled");
    assert_eq!((state, reason), ("True", "Conflict"));
    assert!(
        message.contains("guard tests/claimed-first is older"),
        "{message}"
    );
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].1, "Conflict");
    assert!(
        !tracing_enabled(&config, "claimed-api").await,
        "the younger guard wrote nothing"
    );

    // The older guard is not held back by the younger one.
    let (_, status) = reconciled(&ctx, &mut server, &older).await;
    assert_eq!(support::condition(&status, "Ready").0, "True");
    assert!(tracing_enabled(&config, "claimed-api").await);
}

#[tokio::test]
async fn an_older_guard_not_yet_reconciled_still_keeps_its_stage() {
    let config = support::config(REGION).await;
    support::set_log_role(&config).await;
    // The older names the API by name and has no status yet; the younger names it by id.
    let older = finalized(seeded_guard(&config, "unresolved", "").await);
    let (ctx, mut server, mut store) = context_with_store(&config).await;
    let api_id = api_id(&config, "unresolved-api").await;
    let when =
        |text: &str| k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(text.parse().unwrap());
    let mut older = older;
    older.metadata.creation_timestamp = Some(when("2026-01-01T00:00:00Z"));
    let mut younger = older.clone();
    younger.metadata.name = Some("unresolved-second".to_owned());
    younger.metadata.uid = Some("uid-unresolved-second".to_owned());
    younger.metadata.creation_timestamp = Some(when("2026-06-01T00:00:00Z"));
    younger.spec.rest_api = Some(apigw_guard::core::crd::ResourceRef {
        name: None,
        id: Some(api_id),
    });
    store.apply_watcher_event(&watcher::Event::Apply(older.clone()));
    store.apply_watcher_event(&watcher::Event::Apply(younger.clone()));

    let (_, status) = reconciled(&ctx, &mut server, &younger).await;
    let (state, reason, message) = support::condition(&status, "Stalled");
    assert_eq!((state, reason), ("True", "Conflict"));
    assert!(message.contains("tests/unresolved is older"), "{message}");
    assert!(!tracing_enabled(&config, "unresolved-api").await);
}

/// The watch cache lags behind the status the operator writes, and other triggers (namespace
/// relabels, AwsAccount changes, a restart's relist) reconcile the guard from it. Served a
/// guard one status behind after each rollback, the operator reads the guard afresh and
/// decides nothing from the older status: six bad deployments in a row are each rolled back
/// to the same good one, once each, and the good one is never verified or rolled "back" to
/// the bad one.
#[tokio::test]
async fn a_cached_guard_one_status_behind_never_undoes_a_rollback() {
    use apigw_guard::core::deploys::{BASELINE, ROLLED_BACK, VERIFYING};
    let config = support::config(REGION).await;
    support::set_log_role(&config).await;
    let guard = finalized(
        seeded_guard(
            &config,
            "behind",
            "  deployments: {verifyFor: 30m, rollback: Auto}\n",
        )
        .await,
    );
    let api = api_id(&config, "behind-api").await;
    let (good, _) = support::stage_serving(&config, &api).await;
    let (ctx, mut server) = context(&config).await;
    let with = |status: &ApiGatewayGuardStatus| {
        let mut guard = guard.clone();
        guard.status = Some(status.clone());
        guard
    };
    let (_, mut latest) = reconciled(&ctx, &mut server, &guard).await;
    let deployment = latest.deployment.clone().unwrap();
    assert_eq!(
        (deployment.id.as_str(), deployment.verdict.as_str()),
        (good.as_str(), BASELINE)
    );

    let mut bad = Vec::new();
    for n in 1..=6 {
        // A second on: the last deployment's figures (timestamped in whole seconds) are in
        // this one's baseline, not its window.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let deployed = support::deploy(&config, &api, "prod").await;
        bad.push(deployed.clone());
        // The next look opens the deployment's window.
        let (_, verifying) = reconciled(&ctx, &mut server, &with(&latest)).await;
        let opened = verifying.deployment.clone().unwrap();
        assert_eq!(
            (opened.id.as_str(), opened.verdict.as_str()),
            (deployed.as_str(), VERIFYING),
            "bad deployment {n}"
        );
        // Each bad deployment twice as slow as the one before it, which is in its baseline.
        let latency = 1000.0 * f64::from(1 << n);
        let figures = [("Count", 100.0), ("Latency", latency)];
        support::put_metrics_now(&config, ("ApiName", "behind-api"), &figures).await;
        let (events, rolled) = reconciled(&ctx, &mut server, &with(&verifying)).await;
        let status = rolled.deployment.clone().unwrap();
        assert_eq!(
            (status.id.as_str(), status.verdict.as_str()),
            (good.as_str(), ROLLED_BACK),
            "{events:?}"
        );
        assert_eq!(status.regressed, bad, "regressed never loses an entry");
        assert_eq!(support::stage_serving(&config, &api).await.0, good);

        // Reconciled again from the cache, one status behind the rollback: the guard is read
        // afresh, and nothing is decided from the older status: no AWS write.
        let behind = with(&verifying);
        let task = run(&ctx, &behind);
        let seen = server
            .next(|_| serde_json::to_value(with(&rolled)).unwrap())
            .await;
        assert_eq!(
            (seen.method.as_str(), seen.path.as_str()),
            ("GET", format!("{GUARDS}/behind").as_str())
        );
        // The stage's figures of the last minutes may move on (the runbook's verification: an
        // event and a status of their own), but nothing is said or written of the deployment.
        let mut task = task;
        let mut latest_written = rolled.clone();
        loop {
            tokio::select! {
                done = &mut task => {
                    done.unwrap().unwrap();
                    break;
                }
                more = server.next(|seen| match seen.method {
                    Method::POST => seen.body.clone(),
                    _ => serde_json::to_value(with(&rolled)).unwrap(),
                }) => {
                    if more.path == format!("{GUARDS}/behind/status") {
                        latest_written =
                            serde_json::from_value(more.body["status"].clone()).unwrap();
                        assert_eq!(latest_written.deployment, rolled.deployment);
                    } else {
                        let (_, reason, note) = event_of(&more.body);
                        assert!(!reason.starts_with("Deployment"), "{reason}: {note}");
                    }
                }
            }
        }
        assert_eq!(
            support::stage_serving(&config, &api).await.0,
            good,
            "after {n} bad deployments"
        );
        latest = latest_written;
    }
}
