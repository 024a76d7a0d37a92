//! The running operator's memory at scale: the real `apigw-guard run` process against a real
//! Kubernetes API server (envtest's pair, `tests/support/envtest.rs`) and the local AWS, with
//! N guards (default 1,000) each on its own REST API. It waits until every guard is Ready,
//! lets a resync round pass, and prints the operator's peak resident set (VmHWM) and what it
//! holds then (VmRSS).
//!
//! Run: `cargo bench --bench operator` (after `scripts/local-aws install`; the API server
//! comes from `scripts/envtest-assets`); `-- --guards 300` for another N.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use apigw_guard::crd::ApiGatewayGuard;
use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{ListParams, PostParams};
use support::envtest::{self, Supervised, free_port};

const REGION: &str = "us-east-1";
const NS: &str = "scale";

/// A `/proc/<pid>/status` figure in MiB.
fn memory_mib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() {
    let n: usize = arg("--guards").map_or(1000, |n| n.parse().expect("--guards N"));
    let server = envtest::api_server()
        .await
        .expect("envtest's binaries (scripts/envtest-assets)");
    let admin = server.admin().await;
    let config = support::config(REGION).await;
    support::set_log_role(&config).await;

    let seeded = Instant::now();
    stream::iter(0..n)
        .for_each_concurrent(8, |i| {
            let config = &config;
            async move {
                support::seed_api(config, &format!("scale-{i:04}"), "prod").await;
            }
        })
        .await;
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    let ns = serde_json::from_value(serde_json::json!({"metadata": {"name": NS}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let guards: Api<ApiGatewayGuard> = Api::namespaced(admin.clone(), NS);
    stream::iter(0..n)
        .for_each_concurrent(16, |i| {
            let guards = &guards;
            async move {
                let guard: ApiGatewayGuard = serde_yaml::from_str(&format!(
                    "apiVersion: apigw-guard.dev/v1alpha1\nkind: ApiGatewayGuard\n\
                     metadata: {{name: g{i:04}, namespace: {NS}}}\n\
                     spec:\n  restApi: {{name: scale-{i:04}}}\n  stage: prod\n  \
                     tracing: {{enabled: true}}\n  \
                     executionLogging: {{level: ERROR, detailedMetrics: true}}\n  \
                     stageThrottle: {{rateLimit: 500, burstLimit: 250}}\n  \
                     alarms: {{actions: ['arn:aws:sns:{REGION}:123456789012:oncall']}}\n"
                ))
                .unwrap();
                guards.create(&PostParams::default(), &guard).await.unwrap();
            }
        })
        .await;
    eprintln!("seeded {n} APIs and guards in {:.0?}", seeded.elapsed());

    // The operator as its Deployment runs it, its rate limits lifted (moto has no quotas).
    let kubeconfig = server.dir.join("admin.kubeconfig");
    let lifted = [
        "apigateway",
        "cloudwatch-put-metric-alarm",
        "cloudwatch-delete-alarms",
        "cloudwatch-describe-alarms",
        "cloudwatch-tags",
        "cloudwatch-dashboards",
    ]
    .map(|quota| format!("--rate-limit={quota}=10000/10000"));
    let mut args = vec![
        "run".to_owned(),
        "--leader-election=false".to_owned(),
        "--resync-interval=60s".to_owned(),
        format!("--metrics-addr=127.0.0.1:{}", free_port()),
        "--log-format=json".to_owned(),
    ];
    args.extend(lifted);
    let operator = Supervised::start(
        Path::new(env!("CARGO_BIN_EXE_apigw-guard")),
        &args,
        &[
            ("KUBECONFIG", kubeconfig.display().to_string()),
            ("AWS_ENDPOINT_URL", support::endpoint().to_owned()),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
            ("AWS_REGION", REGION.to_owned()),
            ("RUST_LOG", "warn".to_owned()),
        ],
        &server.dir.join("operator-scale.log"),
    );
    let started = Instant::now();
    loop {
        let list = guards.list(&ListParams::default()).await.unwrap();
        let ready = list
            .items
            .iter()
            .filter(|g| {
                g.status.as_ref().is_some_and(|s| {
                    s.conditions
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
                })
            })
            .count();
        if ready == n {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "{ready} of {n} Ready after 15 min:\n{}",
            operator.output()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let converged = started.elapsed();
    // One resync round in sync, then the figures.
    tokio::time::sleep(Duration::from_secs(70)).await;
    let peak = memory_mib(operator.pid, "VmHWM:");
    let now = memory_mib(operator.pid, "VmRSS:");
    println!(
        "operator with {n} guards: all Ready in {:.1} s; peak RSS {peak:.1} MiB, RSS after a \
         resync round {now:.1} MiB",
        converged.as_secs_f64()
    );
}
