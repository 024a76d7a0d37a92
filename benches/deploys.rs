//! Deployment verification benchmark: N guards with `spec.deployments` (rollback: Auto) on N
//! REST API stages against the local AWS, in the users' order: the guards first (their stages'
//! deployments are the baseline), a steady resync, then a deployment to every stage, a
//! look while the windows are open, and half the stages regressing. Reports the AWS calls
//! per guard of each round by operation: what verification adds to a reconcile.
//!
//! Run: `cargo bench --bench deploys` (after `scripts/local-aws install`);
//! `cargo bench --bench deploys -- --guards 100` for another size.

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::Instant;

use apigw_guard::aws::{CallLog, RegionalClients};
use apigw_guard::core::crd::{ApiGatewayGuardSpec, DeploymentStatus};
use apigw_guard::core::model::{GuardId, Identity};
use apigw_guard::reconcile::Mode;
use apigw_guard::reconcile::{reconcile, verify_deployment};
use futures::{StreamExt, stream};

const REGION: &str = "eu-west-3";
const CONCURRENCY: usize = 4;

/// One round: reconcile and verify every guard from its last deployment status; the new
/// statuses, the calls of the round and its wall time.
async fn round(
    clients: &RegionalClients,
    guards: &[(GuardId, ApiGatewayGuardSpec)],
    statuses: &[Option<DeploymentStatus>],
) -> (
    Vec<Option<DeploymentStatus>>,
    BTreeMap<&'static str, usize>,
    f64,
) {
    let calls = CallLog::default();
    let started = Instant::now();
    let statuses = stream::iter(guards.iter().zip(statuses))
        .map(|((id, spec), previous)| {
            let calls = &calls;
            async move {
                let (apigateway, cloudwatch) = clients.clients(&Identity::Own, None, calls).await;
                let report = reconcile(&apigateway, &cloudwatch, id, spec, Mode::Apply).await;
                verify_deployment(
                    &apigateway,
                    &cloudwatch,
                    spec,
                    &report,
                    previous.as_ref(),
                    Mode::Apply,
                )
                .await
                .map(|verified| verified.status)
            }
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let mut by_operation = BTreeMap::new();
    for call in calls.snapshot() {
        *by_operation.entry(call.operation).or_insert(0) += 1;
    }
    (statuses, by_operation, started.elapsed().as_secs_f64())
}

fn row(
    name: &str,
    n: usize,
    calls: &BTreeMap<&str, usize>,
    seconds: f64,
    statuses: &[Option<DeploymentStatus>],
) {
    let total: usize = calls.values().sum();
    let mut verdicts: BTreeMap<&str, usize> = BTreeMap::new();
    for status in statuses.iter().flatten() {
        *verdicts.entry(status.verdict.as_str()).or_insert(0) += 1;
    }
    println!(
        "| {name} | {:.3} | {} | {} | {seconds:.1} s |",
        total as f64 / n as f64,
        calls
            .iter()
            .map(|(op, count)| format!("{op} {:.2}", *count as f64 / n as f64))
            .collect::<Vec<_>>()
            .join(", "),
        verdicts
            .iter()
            .map(|(verdict, count)| format!("{count} {verdict}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

fn main() {
    let n = support::number_arg("--guards", 200);
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async {
        let config = support::config(REGION).await;
        let names: Vec<String> = (0..n).map(|i| format!("deploys-{i:04}")).collect();
        let ids: Vec<String> = stream::iter(&names)
            .map(|name| {
                let config = &config;
                async move { support::seed_api(config, name, "prod").await }
            })
            .buffered(8)
            .collect()
            .await;
        let guards: Vec<(GuardId, ApiGatewayGuardSpec)> = names
            .iter()
            .map(|name| {
                let id = GuardId {
                    namespace: "bench".to_owned(),
                    name: name.clone(),
                };
                let yaml = format!(
                    "restApi: {{name: {name}}}\nstage: prod\ndeployments: {{verifyFor: 30m, rollback: Auto}}\n"
                );
                (id, serde_yaml::from_str(&yaml).expect("bench spec"))
            })
            .collect();
        let clients = support::unlimited_clients(&config).share_reads_for(std::time::Duration::from_secs(60));
        println!("| round ({n} guards) | AWS calls/guard | by operation (calls/guard) | verdicts | wall |");
        println!("|---|---|---|---|---|");
        let (statuses, calls, seconds) = round(&clients, &guards, &vec![None; n]).await;
        row("first look: the deployment found is the baseline", n, &calls, seconds, &statuses);
        let (statuses, calls, seconds) = round(&clients, &guards, &statuses).await;
        row("steady resync", n, &calls, seconds, &statuses);
        let apigw = aws_sdk_apigateway::Client::new(&config);
        for id in &ids {
            apigw.create_deployment().rest_api_id(id).stage_name("prod").send().await.expect("deploy");
        }
        clients.expire_shared_reads();
        let (statuses, calls, seconds) = round(&clients, &guards, &statuses).await;
        row("after a deployment to every stage: windows open", n, &calls, seconds, &statuses);
        let (statuses, calls, seconds) = round(&clients, &guards, &statuses).await;
        row("a look a minute on, windows open", n, &calls, seconds, &statuses);
        // Half the stages fail since their deployment: each of those is rolled back once.
        for name in names.iter().step_by(2) {
            let figures = [("Count", 100.0), ("5XXError", 50.0)];
            support::put_metrics_now(&config, ("ApiName", name), &figures).await;
        }
        let (statuses, calls, seconds) = round(&clients, &guards, &statuses).await;
        row("half the stages regress: rolled back", n, &calls, seconds, &statuses);
        let (statuses, calls, seconds) = round(&clients, &guards, &statuses).await;
        row("the next look", n, &calls, seconds, &statuses);
    });
}
