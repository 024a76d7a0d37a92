//! Discovery benchmark: one policy matching 1,000 stages among 1,200 REST APIs, against the
//! local AWS; it names no API kinds, so it lists HTTP APIs too, as such a policy does. Reports
//! the AWS calls of one discovery by operation, its time under AWS's API Gateway quota (10
//! requests/s, burst 40: the floor a real account sets) and without it.
//!
//! Run: `cargo bench --bench discovery` (after `scripts/local-aws install`);
//! `cargo bench --bench discovery -- --matched 100 --others 20` for other sizes.

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::Instant;

use apigw_guard::aws::{CallLog, RateLimits, RegionalClients};
use apigw_guard::core::crd::{ApiKind, StageSelector};
use apigw_guard::core::model::Identity;
use apigw_guard::reconcile::discovery::discover;
use futures::{StreamExt, stream};

const REGION: &str = "us-east-1";

async fn run(
    clients: &RegionalClients,
    selector: &StageSelector,
) -> (f64, usize, BTreeMap<String, usize>) {
    let calls = CallLog::default();
    let (apigateway, _) = clients.clients(&Identity::Own, None, &calls).await;
    let started = Instant::now();
    let matched = discover(&apigateway, selector)
        .await
        .expect("discovery works");
    let seconds = started.elapsed().as_secs_f64();
    let mut by_operation = BTreeMap::new();
    for call in calls.snapshot() {
        *by_operation.entry(call.operation.to_owned()).or_insert(0) += 1;
    }
    (seconds, matched.len(), by_operation)
}

fn main() {
    let matched = support::number_arg("--matched", 1000);
    let others = support::number_arg("--others", 200);
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async {
        let config = support::config(REGION).await;
        let seeded = Instant::now();
        let names: Vec<String> = (0..matched)
            .map(|i| format!("fleet-{i:04}"))
            .chain((0..others).map(|i| format!("other-{i:04}")))
            .collect();
        stream::iter(&names)
            .for_each_concurrent(8, |name| {
                let config = &config;
                async move {
                    support::seed_api(config, name, "prod").await;
                }
            })
            .await;
        eprintln!(
            "seeded {} APIs in {:.0} s",
            names.len(),
            seeded.elapsed().as_secs_f64()
        );
        let selector = StageSelector {
            api_kinds: vec![ApiKind::Rest, ApiKind::Http],
            rest_api_tags: BTreeMap::new(),
            rest_api_names: vec!["fleet-*".to_owned()],
            stages: vec!["prod".to_owned()],
        };
        let quota = RegionalClients::with_limits(config.clone(), RateLimits::new([]).into());
        let (quota_s, found, calls) = run(&quota, &selector).await;
        assert_eq!(found, matched, "every fleet stage matched");
        let unlimited = support::unlimited_clients(&config);
        let (free_s, _, _) = run(&unlimited, &selector).await;
        let total: usize = calls.values().sum();
        println!("| APIs | matched stages | AWS calls of one discovery | under AWS's quota | without quota |");
        println!("|---|---|---|---|---|");
        println!(
            "| {} | {found} | {total} ({}) | {quota_s:.1} s | {free_s:.1} s |",
            names.len(),
            calls
                .iter()
                .map(|(op, n)| format!("{op} x{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    });
}
