//! Events benchmark: the real `apigw-guard run` process against a real Kubernetes API server
//! (envtest's pair) and the local AWS, whose EventBridge delivers CloudTrail-shaped events to
//! SQS. N guards (default 20) each on their own REST API. It measures:
//! - the time from a change made by hand plus its event on the bus to the guard restored, over
//!   50 changes (p50, p95);
//! - AWS reads per guard in one resync round, hence per hour: one round an hour with events,
//!   twelve with 5-minute polling;
//! - how long a change made by hand goes unseen without its event (10 changes at spread
//!   moments of a round), against the bound: one resync and one sharing window;
//! - what 50 echoes of the operator's own writes cost: nothing, as it recognizes its session,
//!   against what 50 events of an in-sync stage cost when the in-sync check must absorb them.
//!
//! Run: `cargo bench --bench events` (after `scripts/local-aws install`; the API server comes
//! from `scripts/envtest-assets`); `-- --guards 100 --changes 100 --unseen 20` for others.

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use apigw_guard::core::crd::ApiGatewayGuard;
use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{ListParams, PostParams};
use support::envtest::{self, Supervised, free_port};

const REGION: &str = "us-east-1";
const NS: &str = "events";
/// The safety-net resync while measuring reads: short, so rounds can be counted.
const ROUND: Duration = Duration::from_secs(30);

/// The sum of the `/metrics` samples whose line starts with `prefix`.
fn counter(port: u16, prefix: &str) -> f64 {
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return 0.0;
    };
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

const READS: &str = "apigw_guard_aws_calls_total";
const RECONCILES: &str = "apigw_guard_reconciles_total";

fn reads(port: u16) -> f64 {
    let all = counter(port, READS);
    let writes: f64 = [
        "UpdateStage",
        "UpdateUsagePlan",
        "PutMetricAlarm",
        "TagResource",
        "DeleteAlarms",
        "PutDashboard",
        "DeleteDashboards",
    ]
    .iter()
    .map(|op| {
        counter(
            port,
            &format!("{READS}{{service=\"apigateway\",operation=\"{op}\""),
        ) + counter(
            port,
            &format!("{READS}{{service=\"cloudwatch\",operation=\"{op}\""),
        )
    })
    .sum();
    all - writes
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank - 1]
}

#[tokio::main]
async fn main() {
    let n = support::number_arg("--guards", 20);
    let changes = support::number_arg("--changes", 50);
    let server = envtest::api_server().await;
    let admin = server.admin().await;
    let config = support::config(REGION).await;
    let apis: Vec<String> = stream::iter(0..n)
        .then(|i| {
            let config = &config;
            async move { support::seed_api(config, &format!("events-{i:03}"), "prod").await }
        })
        .collect()
        .await;
    let queue = support::events_queue(&config, "apigw-guard-events-bench").await;
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    let ns = serde_json::from_value(serde_json::json!({"metadata": {"name": NS}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let guards: Api<ApiGatewayGuard> = Api::namespaced(admin.clone(), NS);
    for i in 0..n {
        let guard: ApiGatewayGuard = serde_yaml::from_str(&format!(
            "apiVersion: apigw-guard.dev/v1alpha1\nkind: ApiGatewayGuard\n\
             metadata: {{name: g{i:03}, namespace: {NS}}}\n\
             spec:\n  restApi: {{name: events-{i:03}}}\n  stage: prod\n  \
             tracing: {{enabled: true}}\n  alarms: {{}}\n"
        ))
        .unwrap();
        guards.create(&PostParams::default(), &guard).await.unwrap();
    }
    let port = free_port();
    let kubeconfig = server.dir.join("admin.kubeconfig");
    let args = [
        "run".to_owned(),
        "--leader-election=false".to_owned(),
        format!("--events-queue-url={queue}"),
        format!("--events-resync={}s", ROUND.as_secs()),
        format!("--metrics-addr=127.0.0.1:{port}"),
        "--log-format=json".to_owned(),
        "--rate-limit=apigateway=10000/10000".to_owned(),
    ];
    let operator = Supervised::start(
        Path::new(env!("CARGO_BIN_EXE_apigw-guard")),
        &args,
        &[
            ("KUBECONFIG", kubeconfig.display().to_string()),
            ("AWS_ENDPOINT_URL", support::endpoint().to_owned()),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
            ("AWS_REGION", REGION.to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ],
        &server.dir.join("operator-events.log"),
    );
    let started = Instant::now();
    loop {
        let list = guards.list(&ListParams::default()).await.unwrap();
        let ready = list.items.iter().filter(|g| support::is_ready(g)).count();
        let flowing = operator.output().contains("events flow");
        if ready == n && flowing {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "{}",
            operator.output()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Reads per round: over three rounds of the safety-net resync, nothing changing.
    tokio::time::sleep(ROUND + Duration::from_secs(2)).await;
    let before = reads(port);
    tokio::time::sleep(ROUND * 3).await;
    let per_round = (reads(port) - before) / 3.0 / n as f64;

    // Reaction: a change by hand and its event, until the guard has put it back.
    let mut latencies = Vec::new();
    for c in 0..changes {
        let api = &apis[c % n];
        support::disable_tracing_by_hand(&config, api).await;
        let sent = Instant::now();
        support::put_cloudtrail_event(&config, "update-stage", api).await;
        loop {
            if support::tracing_enabled(&config, api, "prod").await {
                break;
            }
            assert!(
                sent.elapsed() < Duration::from_secs(30),
                "not restored: {}",
                operator.output()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        latencies.push(sent.elapsed());
    }
    latencies.sort();

    // Unseen: changes by hand with no event, found by the safety-net resync alone, at most a
    // round and the sharing window (half a round) after each; made at spread moments of a round.
    let unseen_changes = support::number_arg("--unseen", 10);
    let mut unseen = Vec::new();
    for c in 0..unseen_changes {
        let api = &apis[c % n];
        tokio::time::sleep(ROUND.mul_f64((c % 10) as f64 / 10.0)).await;
        support::disable_tracing_by_hand(&config, api).await;
        let made = Instant::now();
        while !support::tracing_enabled(&config, api, "prod").await {
            assert!(
                made.elapsed() < ROUND * 3,
                "not restored by a resync: {}",
                operator.output()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        unseen.push(made.elapsed());
    }
    unseen.sort();

    // Echoes: the operator's own writes coming back, then the same events from someone else
    // about stages already in sync.
    // Each figure is taken over the same span as a quiet one (no events), whose calls (the
    // resync rounds') are taken off.
    let span = |name: Option<&'static str>| {
        let (config, apis, n) = (&config, &apis, n);
        async move {
            let started = Instant::now();
            let (calls, reconciles) = (counter(port, READS), counter(port, RECONCILES));
            for c in 0..changes {
                if let Some(name) = name {
                    support::put_cloudtrail_event(config, name, &apis[c % n]).await;
                }
            }
            tokio::time::sleep(Duration::from_secs(10).saturating_sub(started.elapsed())).await;
            (
                counter(port, READS) - calls,
                counter(port, RECONCILES) - reconciles,
            )
        }
    };
    let quiet = span(None).await;
    let own = span(Some("update-stage-by-operator")).await;
    let absorbed = span(Some("update-stage")).await;
    drop(operator);

    println!(
        "| guards | changes | restored p50 | restored p95 | reads/guard/round | reads/guard/hour, 5-min polling | reads/guard/hour, events (1 h resync) |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {n} | {changes} | {:.2} s | {:.2} s | {per_round:.2} | {:.1} | {:.2} |",
        percentile(&latencies, 50.0).as_secs_f64(),
        percentile(&latencies, 95.0).as_secs_f64(),
        per_round * 12.0,
        per_round,
    );
    println!();
    println!(
        "without events: {unseen_changes} changes by hand unseen for p50 {:.1} s, at most {:.1} s \
         (bound: the {} s resync and its {} s sharing window, {} s)",
        percentile(&unseen, 50.0).as_secs_f64(),
        unseen.last().map_or(0.0, Duration::as_secs_f64),
        ROUND.as_secs(),
        ROUND.as_secs() / 2,
        ROUND.as_secs() * 3 / 2,
    );
    println!();
    println!(
        "over 10 s: quiet {:.0} AWS calls, {:.0} reconciles; {changes} echoes of the operator's own \
         writes {:.0} calls, {:.0} reconciles; the same {changes} events from someone else about \
         stages in sync (absorbed by the in-sync check) {:.0} calls, {:.0} reconciles",
        quiet.0, quiet.1, own.0, own.1, absorbed.0, absorbed.1
    );
}
