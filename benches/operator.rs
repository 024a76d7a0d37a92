//! The running operator at scale, in the order users meet it: the real `apigw-guard run`
//! process is started first against a real Kubernetes API server (envtest's pair,
//! `tests/it/support/envtest.rs`) and the local AWS; then N guards (default 1,000) arrive, each on
//! its own REST API, once as one file applied with `kubectl apply --server-side`, once as one
//! policy matching N stages, each in a process of its own (its own API server, local AWS and
//! operator). For each it reports the time from the apply to the first guard's first
//! reconcile, to the last guard's first reconcile and to all Ready, counting every guard (it
//! fails if one is never reconciled), and the operator's peak resident set (VmHWM).
//!
//! Run: `cargo bench --bench operator` (after `scripts/local-aws install`; the API server
//! comes from `scripts/envtest-assets`, kubectl from `scripts/k8s-tools`); `-- --guards 300` for
//! another N.

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use apigw_guard::core::crd::{ApiGatewayGuard, ApiGatewayGuardPolicy};
use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use support::envtest::{self, Supervised, free_port};

const REGION: &str = "us-east-1";
/// How long every guard may take to be Ready before the bench fails.
const LIMIT: Duration = Duration::from_secs(900);

/// A `/proc/<pid>/status` figure in MiB.
fn memory_mib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Seeds `n` REST APIs `{prefix}-NNNN` with a prod stage, tagged `bench={prefix}`.
async fn seed(config: &aws_config::SdkConfig, prefix: &str, n: usize) {
    stream::iter(0..n)
        .for_each_concurrent(8, |i| async move {
            let api = support::seed_api(config, &format!("{prefix}-{i:04}"), "prod").await;
            support::tag_api(config, &api, &[("bench", prefix)]).await;
        })
        .await;
}

async fn namespace(client: &Client, name: &str) {
    let ns = serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
}

/// The template every guard of the bench gets: every control but the usage plan.
const CONTROLS: &str = "tracing: {enabled: true}
executionLogging: {level: ERROR, detailedMetrics: true}
stageThrottle: {rateLimit: 500, burstLimit: 250}
alarms: {actions: ['arn:aws:sns:us-east-1:123456789012:oncall']}
";

/// When the operator's log says each guard of `namespace` was first reconciled.
fn first_reconciles(log: &str, namespace: &str) -> HashMap<String, SystemTime> {
    let mut first = HashMap::new();
    for (at, ns, name) in support::reconciles(log) {
        if let (true, Some(at)) = (ns == namespace, parse_time(&at)) {
            first.entry(name).or_insert(at);
        }
    }
    first
}

/// An RFC 3339 UTC timestamp as tracing writes it (`2026-11-28T21:00:00.123456Z`).
fn parse_time(text: &str) -> Option<SystemTime> {
    let (date, time) = text.trim_end_matches('Z').split_once('T')?;
    let mut ymd = date.split('-').map(|p| p.parse::<i64>());
    let (y, m, d) = (ymd.next()?.ok()?, ymd.next()?.ok()?, ymd.next()?.ok()?);
    let mut hms = time.split(':');
    let (h, min) = (
        hms.next()?.parse::<u64>().ok()?,
        hms.next()?.parse::<u64>().ok()?,
    );
    let seconds: f64 = hms.next()?.parse().ok()?;
    // Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = u64::try_from(era * 146_097 + doe - 719_468).ok()?;
    let whole = days * 86_400 + h * 3600 + min * 60;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(whole) + Duration::from_secs_f64(seconds))
}

/// Waits until `n` guards of `guards` are Ready and every one was reconciled; the figures.
async fn measure(
    what: &str,
    guards: &Api<ApiGatewayGuard>,
    namespace: &str,
    n: usize,
    operator: &Supervised,
    applied: SystemTime,
) -> String {
    let started = Instant::now();
    loop {
        let ready = guards
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .filter(|g| support::is_ready(g))
            .count();
        if ready == n {
            break;
        }
        let reconciled = first_reconciles(&operator.output(), namespace).len();
        assert!(
            started.elapsed() < LIMIT,
            "{what}: {ready} of {n} Ready and {reconciled} ever reconciled after {LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let all_ready = SystemTime::now()
        .duration_since(applied)
        .unwrap_or_default();
    let firsts = first_reconciles(&operator.output(), namespace);
    assert_eq!(firsts.len(), n, "{what}: every guard reconciled");
    let since = |t: &SystemTime| t.duration_since(applied).unwrap_or_default().as_secs_f64();
    let first = firsts.values().map(since).fold(f64::MAX, f64::min);
    let last = firsts.values().map(since).fold(0.0, f64::max);
    format!(
        "| {what} | {n} | {first:.1} s | {last:.1} s | {:.1} s | {n} of {n} |",
        all_ready.as_secs_f64()
    )
}

/// One way guards arrive, measured in this process with its own API server and local AWS:
/// its table row, then the operator's peak RSS and its RSS after a resync round in sync.
async fn one(mode: &str, n: usize) -> (String, f64, f64) {
    let server = envtest::api_server().await;
    let admin = server.admin().await;
    let config = support::config(REGION).await;
    support::set_log_role(&config).await;
    let seeded = Instant::now();
    seed(&config, mode, n).await;
    namespace(&admin, mode).await;
    eprintln!("{mode}: seeded {n} APIs in {:.0?}", seeded.elapsed());

    // The operator as its Deployment runs it, its rate limits lifted (moto has no quotas),
    // started before any guard exists.
    let kubeconfig = server.dir.join("admin.kubeconfig");
    let lifted = [
        "apigateway",
        "cloudwatch-put-metric-alarm",
        "cloudwatch-delete-alarms",
        "cloudwatch-describe-alarms",
        "cloudwatch-tags",
        "cloudwatch-dashboards",
        "logs-log-groups",
    ]
    .map(|quota| format!("--rate-limit={quota}=10000/10000"));
    let mut args = vec![
        "run".to_owned(),
        "--leader-election=false".to_owned(),
        "--resync-interval=60s".to_owned(),
        "--discovery-interval=60s".to_owned(),
        format!("--metrics-addr=127.0.0.1:{}", free_port()),
        "--log-format=text".to_owned(),
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
            (
                "RUST_LOG",
                "warn,apigw_guard::k8s::controller=info".to_owned(),
            ),
        ],
        &server.dir.join("operator-bench.log"),
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let guards = Api::<ApiGatewayGuard>::namespaced(admin.clone(), mode);
    let applied = SystemTime::now();
    let what = match mode {
        // One file of N guards, as a GitOps sync of a directory applies it.
        "file" => {
            let kubectl = envtest::script_path("scripts/k8s-tools", "kubectl").join("kubectl");
            let controls = CONTROLS.replace('\n', "\n  ");
            let file: String = (0..n)
                .map(|i| {
                    format!(
                        "---\napiVersion: apigw-guard.dev/v1alpha1\nkind: ApiGatewayGuard\n\
                         metadata: {{name: g{i:04}, namespace: file}}\n\
                         spec:\n  restApi: {{name: file-{i:04}}}\n  stage: prod\n  {controls}\n"
                    )
                })
                .collect();
            let path = server.dir.join("guards.yaml");
            std::fs::write(&path, file).unwrap();
            let apply = Command::new(&kubectl)
                .args(["apply", "--server-side", "-f"])
                .arg(&path)
                .env("KUBECONFIG", &kubeconfig)
                .output()
                .expect("kubectl runs");
            assert!(
                apply.status.success(),
                "{}",
                String::from_utf8_lossy(&apply.stderr)
            );
            "kubectl apply --server-side of one file"
        }
        // One policy matching N stages.
        _ => {
            let policy: ApiGatewayGuardPolicy = serde_yaml::from_str(&format!(
                "apiVersion: apigw-guard.dev/v1alpha1\nkind: ApiGatewayGuardPolicy\n\
                 metadata: {{name: fleet, namespace: {mode}}}\n\
                 spec:\n  region: {REGION}\n  \
                 selector: {{restApiTags: {{bench: {mode}}}, stages: [prod]}}\n  \
                 template:\n    {}\n",
                CONTROLS.replace('\n', "\n    ")
            ))
            .unwrap();
            Api::<ApiGatewayGuardPolicy>::namespaced(admin.clone(), mode)
                .create(&PostParams::default(), &policy)
                .await
                .unwrap();
            "one policy matching every stage"
        }
    };
    let row = measure(what, &guards, mode, n, &operator, applied).await;
    eprintln!("{row}");
    // One resync round in sync, then the memory.
    tokio::time::sleep(Duration::from_secs(70)).await;
    (
        row,
        memory_mib(operator.pid, "VmHWM:"),
        memory_mib(operator.pid, "VmRSS:"),
    )
}

fn main() {
    let n: usize = support::arg("--guards").map_or(1000, |n| n.parse().expect("--guards N"));
    if let Some(mode) = support::arg("--mode") {
        let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
        let (row, peak, now) = runtime.block_on(one(&mode, n));
        println!("RESULT {row} {peak:.1} MiB | {now:.1} MiB |");
        return;
    }
    println!(
        "| guards arrive by | guards | first guard's first reconcile | last guard's first \
         reconcile | all Ready | reconciled | peak RSS | RSS after a resync round |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for mode in ["file", "policy"] {
        let row = support::child_result(&["--mode", mode, "--guards", &n.to_string()]);
        println!("{row}");
    }
}
