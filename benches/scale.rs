//! Scale benchmark: N guards, each with its own REST API, stage and usage plan, reconciled
//! against the local AWS, once reading AWS per guard (naive) and once through shared reads.
//! For each it reports cold-converge time, AWS calls per guard (reads and writes) for the
//! cold run, the first resync and a steady resync, the floor AWS's quotas set, planner
//! throughput and peak RSS. Each (N, mode) runs in a child process with its own local AWS, so
//! state and peak RSS are its own.
//!
//! Run: `cargo bench --bench scale` (after `scripts/local-aws install`);
//! `cargo bench --bench scale -- --sizes 10,100` for other sizes;
//! `cargo bench --bench scale -- --fleet mixed --sizes 1000` for a fleet of half REST and
//! half HTTP API stages, each guard with alarms, a dashboard and access logs, with each
//! round's reads per guard by operation; `--fleet slo` for the same fleet with an
//! availability objective on every guard (burn-rate and composite alarms, the budget read);
//! `--fleet thirds` for a third each of REST, HTTP and WebSocket API stages;
//! `cargo bench --bench scale -- --rename 100,1000` for what renaming guards' alarms and
//! dashboards from their first names costs (an upgrade), once.

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use apigw_guard::aws::{Call, CallLog, Quota, RegionalClients};
use apigw_guard::core::crd::ApiGatewayGuardSpec;
use apigw_guard::core::model::Identity;
use apigw_guard::core::model::{ApiKind, GuardId, StageKey};
use apigw_guard::core::plan::plan;
use apigw_guard::core::report::Report;
use apigw_guard::reconcile::Mode;
use apigw_guard::reconcile::reconcile;
use futures::{StreamExt, stream};
use serde_json::{Value, json};

/// The operator's default `--concurrency`.
const CONCURRENCY: usize = 4;
const REGION: &str = "us-east-1";

/// Which stages the fleet has: REST API stages whose guards manage every REST control (the
/// first rows), or half REST and half HTTP API stages, alternating as a team's fleet mixes
/// them, every guard also keeping a dashboard and access logs.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fleet {
    Rest,
    Mixed,
    /// The mixed fleet, every guard with an availability objective (burn-rate tiers).
    Objective,
    /// A third of each kind (REST, HTTP and WebSocket API stages, in turn), each guard keeping
    /// every control its kind has, a dashboard and access logs.
    Thirds,
}

impl Fleet {
    fn name(self) -> &'static str {
        match self {
            Fleet::Rest => "rest",
            Fleet::Mixed => "mixed",
            Fleet::Objective => "slo",
            Fleet::Thirds => "thirds",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "rest" => Fleet::Rest,
            "mixed" => Fleet::Mixed,
            "slo" => Fleet::Objective,
            "thirds" => Fleet::Thirds,
            other => panic!("--fleet takes rest, mixed, slo or thirds, not {other}"),
        }
    }

    /// Stage `i`'s kind of API: every other stage of a mixed fleet is an HTTP API's; the
    /// kinds take turns in a fleet of thirds.
    fn kind(self, i: usize) -> ApiKind {
        match (self, i % 2) {
            (Fleet::Thirds, _) => apigw_guard::core::kind::KINDS[i % 3],
            (Fleet::Mixed | Fleet::Objective, 1) => ApiKind::Http,
            _ => ApiKind::Rest,
        }
    }

    /// The stage of API `i`: HTTP APIs are mostly served from `$default`.
    fn stage(self, i: usize) -> &'static str {
        match self.kind(i) {
            ApiKind::Rest | ApiKind::WebSocket => "prod",
            ApiKind::Http => "$default",
        }
    }
}

fn spec(i: usize, fleet: Fleet) -> ApiGatewayGuardSpec {
    if fleet == Fleet::Objective {
        let mut spec = spec(i, Fleet::Mixed);
        spec.controls.slo = serde_yaml::from_str("{availability: 99.9}").expect("an objective");
        return spec;
    }
    let alarms = format!("alarms: {{actions: ['arn:aws:sns:{REGION}:123456789012:oncall']}}");
    let yaml = match (fleet, fleet.kind(i)) {
        (Fleet::Rest, _) => format!(
            "restApi: {{name: bench-{i:04}}}\nstage: prod\ntracing: {{enabled: true}}\n\
             executionLogging: {{level: ERROR, detailedMetrics: true}}\n\
             throttle: {{usagePlan: {{name: bench-{i:04}-plan}}, rateLimit: 100, burstLimit: 200}}\n\
             stageThrottle: {{rateLimit: 500, burstLimit: 250}}\n{alarms}"
        ),
        (Fleet::Objective, _) => unreachable!("the mixed fleet's spec, with an objective"),
        (Fleet::Mixed | Fleet::Thirds, ApiKind::Rest) => format!(
            "restApi: {{name: bench-{i:04}}}\nstage: prod\ntracing: {{enabled: true}}\n\
             executionLogging: {{level: ERROR, detailedMetrics: true}}\n\
             throttle: {{usagePlan: {{name: bench-{i:04}-plan}}, rateLimit: 100, burstLimit: 200}}\n\
             stageThrottle: {{rateLimit: 500, burstLimit: 250}}\n{alarms}\n\
             dashboard: {{}}\naccessLogging: {{}}"
        ),
        (Fleet::Mixed | Fleet::Thirds, ApiKind::Http) => format!(
            "httpApi: {{name: bench-{i:04}}}\nstage: $default\ndetailedMetrics: true\n\
             stageThrottle: {{rateLimit: 500, burstLimit: 250, \
             routes: {{'GET /orders': {{rateLimit: 50, burstLimit: 25}}}}}}\n{alarms}\n\
             dashboard: {{}}\naccessLogging: {{}}"
        ),
        (Fleet::Thirds, ApiKind::WebSocket) => format!(
            "websocketApi: {{name: bench-{i:04}}}\nstage: prod\n\
             executionLogging: {{level: ERROR}}\ndetailedMetrics: true\n\
             stageThrottle: {{rateLimit: 500, burstLimit: 250, \
             routes: {{sendMessage: {{rateLimit: 50, burstLimit: 25}}}}}}\n{alarms}\n\
             dashboard: {{}}\naccessLogging: {{}}"
        ),
        (Fleet::Mixed, ApiKind::WebSocket) => unreachable!("a mixed fleet is REST and HTTP"),
    };
    serde_yaml::from_str(&yaml).expect("bench spec parses")
}

/// One round over every guard: wall time, the calls made, the reports.
async fn round(
    clients: &RegionalClients,
    guards: &[(GuardId, ApiGatewayGuardSpec)],
    shared: bool,
) -> (Duration, Vec<Call>, Vec<Report>) {
    let calls = CallLog::default();
    let started = Instant::now();
    let reports = stream::iter(guards)
        .map(|(id, spec)| {
            let calls = &calls;
            async move {
                match shared {
                    true => {
                        let (apigateway, cloudwatch) =
                            clients.clients(&Identity::Own, None, calls).await;
                        reconcile(&apigateway, &cloudwatch, id, spec, Mode::Apply).await
                    }
                    false => {
                        let (apigateway, cloudwatch) =
                            clients.per_guard_clients(&Identity::Own, None, calls).await;
                        reconcile(&apigateway, &cloudwatch, id, spec, Mode::Apply).await
                    }
                }
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    (started.elapsed(), calls.snapshot(), reports)
}

/// The least time AWS's default quotas allow for `calls`: each quota's calls beyond its
/// burst, at its rate; the slowest quota decides. `skip` leaves an operation out.
fn quota_floor(calls: &[Call], skip: Option<&str>) -> f64 {
    let mut per_quota: BTreeMap<Quota, f64> = BTreeMap::new();
    for call in calls.iter().filter(|c| Some(c.operation) != skip) {
        for quota in Quota::for_operation(call.operation) {
            *per_quota.entry(*quota).or_default() += 1.0;
        }
    }
    per_quota
        .into_iter()
        .map(|(quota, n)| {
            let limit = quota.default_limit();
            (n - f64::from(limit.burst)).max(0.0) / limit.per_second
        })
        .fold(0.0, f64::max)
}

fn per_guard(calls: &[Call], write: bool, n: usize) -> f64 {
    calls.iter().filter(|c| c.write == write).count() as f64 / n as f64
}

fn by_operation(calls: &[Call]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for call in calls {
        *counts.entry(call.operation.to_owned()).or_default() += 1;
    }
    counts
}

/// Reads per guard by operation: every read call of the round (each page of a listing, every
/// service) divided by every guard of the fleet, whatever its kind.
fn reads_by_operation(calls: &[Call], n: usize) -> BTreeMap<String, f64> {
    let reads: Vec<Call> = calls.iter().filter(|c| !c.write).cloned().collect();
    by_operation(&reads)
        .into_iter()
        .map(|(operation, count)| (operation, count as f64 / n as f64))
        .collect()
}

/// Plans per second over the guards' observed states (pure CPU, no AWS).
fn planner_throughput(guards: &[(GuardId, ApiGatewayGuardSpec)], reports: &[Report]) -> f64 {
    let inputs: Vec<_> = reports
        .iter()
        .filter_map(|r| {
            let (id, spec) = guards.iter().find(|(id, _)| *id == r.guard)?;
            Some((id, spec, r.observed.as_ref().ok()?))
        })
        .collect();
    let started = Instant::now();
    let mut plans = 0usize;
    while started.elapsed() < Duration::from_secs(1) {
        for (id, spec, observed) in &inputs {
            black_box(plan(id, spec, observed));
            plans += 1;
        }
    }
    plans as f64 / started.elapsed().as_secs_f64()
}

/// The process's peak resident set (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Seeds the fleet's N APIs (REST APIs with a stage and a usage plan each; HTTP APIs with a
/// route and a `$default` stage), then measures one mode.
async fn measure(n: usize, shared: bool, fleet: Fleet) -> Value {
    let config = support::config(REGION).await;
    support::set_log_role(&config).await;
    let seeded = Instant::now();
    // Each stage's metric dimension: a REST API's name, an HTTP API's id.
    let metric_stages: Vec<StageKey> = stream::iter(0..n)
        .map(|i| {
            let config = &config;
            async move {
                let name = format!("bench-{i:04}");
                let api = match fleet.kind(i) {
                    ApiKind::Rest => {
                        let id = support::seed_api(config, &name, "prod").await;
                        support::seed_usage_plan(config, &format!("{name}-plan"), &id, "prod")
                            .await;
                        name
                    }
                    ApiKind::Http => {
                        support::seed_http_api(config, &name, "$default", &["GET /orders"]).await
                    }
                    ApiKind::WebSocket => {
                        let routes = ["$connect", "$default", "sendMessage"];
                        support::seed_websocket_api(config, &name, "prod", &routes).await
                    }
                };
                StageKey {
                    kind: fleet.kind(i),
                    api,
                    stage: fleet.stage(i).to_owned(),
                }
            }
        })
        .buffered(8)
        .collect()
        .await;
    let seed_secs = seeded.elapsed().as_secs_f64();
    // From here on the peak is the engine's: clear what seeding left (Linux clear_refs 5).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let guards: Vec<(GuardId, ApiGatewayGuardSpec)> = (0..n)
        .map(|i| {
            let id = GuardId {
                namespace: "bench".to_owned(),
                name: format!("g{i:04}"),
            };
            (id, spec(i, fleet))
        })
        .collect();
    // Listings expire only between rounds, as the resync interval outlasts the window.
    let clients = support::unlimited_clients(&config).share_reads_for(Duration::from_secs(3600));
    let (cold_time, cold, cold_reports) = round(&clients, &guards, shared).await;
    let ready = all_ok(&cold_reports);
    clients.expire_shared_reads();
    let (_, first, _) = round(&clients, &guards, shared).await;
    clients.expire_shared_reads();
    let (steady_time, steady, steady_reports) = round(&clients, &guards, shared).await;
    // A fresh process (a restarted operator, `reconcile --once` in a pipeline): nothing kept,
    // the stages' metrics expected up front as the CLI does for the guards of its file.
    let fresh_clients =
        support::unlimited_clients(&config).share_reads_for(Duration::from_secs(3600));
    fresh_clients
        .expect_metrics(&Identity::Own, None, metric_stages)
        .await;
    let (_, fresh, _) = round(&fresh_clients, &guards, shared).await;
    json!({
        "n": n,
        "mode": if shared { "shared" } else { "per-guard" },
        "fleet": fleet.name(),
        "seed_s": seed_secs,
        "cold_s": cold_time.as_secs_f64(),
        "cold_ok": ready,
        "cold_reads": per_guard(&cold, false, n),
        "cold_writes": per_guard(&cold, true, n),
        "cold_floor_s": quota_floor(&cold, None),
        "cold_floor_without_usage_plans_s": quota_floor(&cold, Some("UpdateUsagePlan")),
        "first_resync_reads": per_guard(&first, false, n),
        "first_resync_writes": per_guard(&first, true, n),
        "steady_s": steady_time.as_secs_f64(),
        "steady_reads": per_guard(&steady, false, n),
        "steady_writes": per_guard(&steady, true, n),
        "steady_floor_s": quota_floor(&steady, None),
        "steady_calls": by_operation(&steady),
        "first_resync_reads_by_operation": reads_by_operation(&first, n),
        "steady_reads_by_operation": reads_by_operation(&steady, n),
        "fresh_reads_by_operation": reads_by_operation(&fresh, n),
        "steady_in_sync": steady_reports.iter().filter(|r| r.plan.is_in_sync()).count(),
        "fresh_reads": per_guard(&fresh, false, n),
        "fresh_writes": per_guard(&fresh, true, n),
        "fresh_calls": by_operation(&fresh),
        "plans_per_s_cold": planner_throughput(&guards, &cold_reports),
        "plans_per_s_steady": planner_throughput(&guards, &steady_reports),
        "peak_rss_mib": peak_rss_mib(),
    })
}

/// N guards (alarms and a dashboard each) whose alarms and dashboard an older operator left
/// under their first names: the one round that renames them all, and the round after.
async fn measure_rename(n: usize) -> Value {
    let config = support::config(REGION).await;
    stream::iter(0..n)
        .for_each_concurrent(8, |i| {
            let config = &config;
            async move {
                support::seed_api(config, &format!("bench-{i:04}"), "prod").await;
            }
        })
        .await;
    let guards: Vec<(GuardId, ApiGatewayGuardSpec)> = (0..n)
        .map(|i| {
            let id = GuardId {
                namespace: "bench".to_owned(),
                name: format!("g{i:04}"),
            };
            let spec = serde_yaml::from_str(&format!(
                "restApi: {{name: bench-{i:04}}}\nstage: prod\nalarms: {{}}\ndashboard: {{}}"
            ))
            .expect("bench spec parses");
            (id, spec)
        })
        .collect();
    let clients = support::unlimited_clients(&config).share_reads_for(Duration::from_secs(3600));
    round(&clients, &guards, true).await;
    // What the older operator left: the same alarms (owner-tagged) and dashboards, first-named.
    let cw = aws_sdk_cloudwatch::Client::new(&config);
    let mut alarms = Vec::new();
    let mut token = None;
    loop {
        let page = cw
            .describe_alarms()
            .alarm_name_prefix("apigw-guard-bench_")
            .set_next_token(token)
            .send()
            .await
            .expect("alarms listed");
        alarms.extend(
            page.metric_alarms()
                .iter()
                .filter_map(|a| a.alarm_name().map(str::to_owned)),
        );
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    stream::iter(alarms)
        .for_each_concurrent(8, |alarm| {
            let (cw, config) = (&cw, &config);
            async move {
                let name = alarm.as_str();
                let (guard, kind) = name
                    .trim_start_matches("apigw-guard-bench_")
                    .split_once('_')
                    .expect("today's name");
                let first = format!("apigw-guard-bench-{guard}-{kind}");
                support::put_foreign_alarm(
                    config,
                    &first,
                    "5XXError",
                    &format!("bench/{guard}"),
                    10.0,
                )
                .await;
                cw.delete_alarms()
                    .alarm_names(name)
                    .send()
                    .await
                    .expect("deleted");
            }
        })
        .await;
    stream::iter(&guards)
        .for_each_concurrent(8, |(id, _)| {
            let (cw, config) = (&cw, &config);
            async move {
                let body = support::dashboard(config, &id.dashboard_name()).await;
                cw.put_dashboard()
                    .dashboard_name(id.legacy_dashboard_name())
                    .dashboard_body(body.expect("dashboard made").to_string())
                    .send()
                    .await
                    .expect("first-named dashboard");
                cw.delete_dashboards()
                    .dashboard_names(id.dashboard_name())
                    .send()
                    .await
                    .expect("deleted");
            }
        })
        .await;
    clients.expire_shared_reads();
    let (time, renamed, reports) = round(&clients, &guards, true).await;
    let ok = all_ok(&reports);
    clients.expire_shared_reads();
    let (_, after, _) = round(&clients, &guards, true).await;
    json!({
        "n": n,
        "s": time.as_secs_f64(),
        "ok": ok,
        "reads": per_guard(&renamed, false, n),
        "writes": per_guard(&renamed, true, n),
        "floor_s": quota_floor(&renamed, None),
        "calls": by_operation(&renamed),
        "after_reads": per_guard(&after, false, n),
        "after_writes": per_guard(&after, true, n),
    })
}

/// Runs this bench as a child for one measurement (`flag` `value`) and reads its result.
fn child(flag: &str, value: &str) -> Value {
    let result: Value =
        serde_json::from_str(&support::child_result(&[flag, value])).expect("child prints JSON");
    eprintln!("{result}");
    result
}

/// How many reports read AWS and applied every action.
fn all_ok(reports: &[Report]) -> usize {
    reports
        .iter()
        .filter(|r| r.outcomes.iter().all(|o| o.result.is_ok()) && r.observed.is_ok())
        .count()
}

/// The rename measurements, one child process (and local AWS) per N.
fn rename_table(sizes: &str) {
    println!(
        "| N | renaming round (local AWS) | reads/guard | writes/guard | AWS quota floor | calls \
         | next round reads/guard, writes/guard |"
    );
    println!("|---|---|---|---|---|---|---|");
    for n in sizes.split(',') {
        eprintln!("measuring the rename of N={n} ...");
        let r = child("--rename-one", n);
        println!(
            "| {} | {:.1} s ({} of {} guards ok) | {:.2} | {:.2} | {} | {} | {:.2}, {:.2} |",
            r["n"],
            r["s"].as_f64().unwrap_or_default(),
            r["ok"],
            r["n"],
            r["reads"].as_f64().unwrap_or_default(),
            r["writes"].as_f64().unwrap_or_default(),
            hours(r["floor_s"].as_f64().unwrap_or_default()),
            r["calls"],
            r["after_reads"].as_f64().unwrap_or_default(),
            r["after_writes"].as_f64().unwrap_or_default(),
        );
    }
}

fn hours(seconds: f64) -> String {
    match seconds {
        s if s >= 3600.0 => format!("{:.1} h", s / 3600.0),
        s if s >= 60.0 => format!("{:.1} min", s / 60.0),
        s => format!("{s:.0} s"),
    }
}

fn main() {
    if let Some(n) = support::arg("--rename-one") {
        let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
        let result = runtime.block_on(measure_rename(n.parse().expect("N")));
        println!("RESULT {result}");
        return;
    }
    if let Some(sizes) = support::arg("--rename") {
        rename_table(&sizes);
        return;
    }
    if let Some(one) = support::arg("--one") {
        let mut parts = one.split(':');
        let (Some(n), Some(mode)) = (parts.next(), parts.next()) else {
            panic!("--one N:MODE[:FLEET]")
        };
        let fleet = Fleet::parse(parts.next().unwrap_or("rest"));
        let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
        let result = runtime.block_on(measure(n.parse().expect("N"), mode == "shared", fleet));
        println!("RESULT {result}");
        return;
    }
    let fleet = Fleet::parse(&support::arg("--fleet").unwrap_or_else(|| "rest".to_owned()));
    let modes = support::arg("--modes").unwrap_or_else(|| "per-guard,shared".to_owned());
    let sizes: Vec<usize> = support::arg("--sizes")
        .unwrap_or_else(|| "10,100,1000".to_owned())
        .split(',')
        .map(|s| s.parse().expect("--sizes takes numbers like 10,100,1000"))
        .collect();
    let mut results = Vec::new();
    for n in &sizes {
        for mode in modes.split(',') {
            eprintln!("measuring N={n} {mode} ({} fleet) ...", fleet.name());
            results.push(child("--one", &format!("{n}:{mode}:{}", fleet.name())));
        }
    }
    println!(
        "| N | AWS reads | cold converge (local AWS) | AWS quota floor, all / without usage plans \
         | cold reads/guard | cold writes/guard | 1st resync reads/guard | steady reads/guard \
         | steady writes/guard | steady floor | plans/s (cold, in sync) | peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &results {
        println!(
            "| {} | {} | {:.1} s ({} of {} guards ok) | {} / {} | {:.2} | {:.2} | {:.2} | {:.3} | {:.2} | {} | {:.0} k, {:.0} k | {:.1} MiB |",
            r["n"],
            r["mode"].as_str().unwrap_or_default(),
            r["cold_s"].as_f64().unwrap_or_default(),
            r["cold_ok"],
            r["n"],
            hours(r["cold_floor_s"].as_f64().unwrap_or_default()),
            hours(
                r["cold_floor_without_usage_plans_s"]
                    .as_f64()
                    .unwrap_or_default()
            ),
            r["cold_reads"].as_f64().unwrap_or_default(),
            r["cold_writes"].as_f64().unwrap_or_default(),
            r["first_resync_reads"].as_f64().unwrap_or_default(),
            r["steady_reads"].as_f64().unwrap_or_default(),
            r["steady_writes"].as_f64().unwrap_or_default(),
            hours(r["steady_floor_s"].as_f64().unwrap_or_default()),
            r["plans_per_s_cold"].as_f64().unwrap_or_default() / 1e3,
            r["plans_per_s_steady"].as_f64().unwrap_or_default() / 1e3,
            r["peak_rss_mib"].as_f64().unwrap_or_default(),
        );
    }
    println!();
    println!("| N | AWS reads | fresh-process steady reads/guard | writes/guard | calls |");
    println!("|---|---|---|---|---|");
    for r in &results {
        println!(
            "| {} | {} | {:.3} | {:.2} | {} |",
            r["n"],
            r["mode"].as_str().unwrap_or_default(),
            r["fresh_reads"].as_f64().unwrap_or_default(),
            r["fresh_writes"].as_f64().unwrap_or_default(),
            r["fresh_calls"],
        );
    }
    println!();
    for r in &results {
        println!(
            "steady resync, N={} {}: {}",
            r["n"], r["mode"], r["steady_calls"]
        );
    }
    println!();
    println!(
        "| N | fleet | AWS reads | round | reads/guard | by operation (reads/guard) | guards in sync |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in &results {
        for (round, total, by) in [
            (
                "1st resync",
                "first_resync_reads",
                "first_resync_reads_by_operation",
            ),
            ("steady resync", "steady_reads", "steady_reads_by_operation"),
            ("fresh process", "fresh_reads", "fresh_reads_by_operation"),
        ] {
            let ops: Vec<String> = r[by]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(op, per)| format!("{op} {:.3}", per.as_f64().unwrap_or_default()))
                .collect();
            println!(
                "| {} | {} | {} | {round} | {:.3} | {} | {} |",
                r["n"],
                r["fleet"].as_str().unwrap_or_default(),
                r["mode"].as_str().unwrap_or_default(),
                r[total].as_f64().unwrap_or_default(),
                ops.join(", "),
                match round {
                    "steady resync" => format!("{} of {}", r["steady_in_sync"], r["n"]),
                    _ => String::new(),
                },
            );
        }
    }
}
