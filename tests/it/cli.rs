//! The `apigw-guard` command as users run it: plan, reconcile --once, and its errors.

use crate::support;

use std::path::Path;
use std::process::Command;

use support::REGION;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write_temp(name: &str, contents: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("apigw-guard-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

#[tokio::test]
async fn plan_then_reconcile_the_example_guard() {
    let config = support::config(REGION).await;
    let api_id = support::seed_api(&config, "orders-api", "prod").await;
    support::seed_usage_plan(&config, "orders-standard", &api_id, "prod").await;
    support::set_log_role(&config).await;

    let plan = support::apigw_guard(&["plan", "-f", "examples/guard.yaml"]);
    let stdout = text(&plan.stdout);
    assert!(plan.status.success(), "{stdout}{}", text(&plan.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!("guard payments/orders-prod (REST API orders-api {api_id}):")
    );
    assert!(lines[1].starts_with(&format!(
        "  update-stage {api_id}/prod: /tracingEnabled false -> true,"
    )));
    assert!(
        lines[2].starts_with("  put-metric-alarm apigw-guard-payments_orders-prod_5xx (create")
    );
    assert_eq!(
        lines[5],
        "  put-dashboard apigw-guard-payments_orders-prod (create)"
    );
    assert!(lines[6].starts_with("  update-usage-plan "));
    // What the guard costs a month, and the file's total: three standard alarms, a dashboard.
    assert_eq!(
        lines[7],
        "  costs $3.30 a month (3 alarm(s) $0.30, 1 dashboard(s) $3.00)"
    );
    assert!(
        lines[8].starts_with(
            "1 guard(s) cost $3.30 a month (3 alarm(s) $0.30, 1 dashboard(s) $3.00) at CloudWatch's list prices"
        ),
        "{stdout}"
    );
    assert_eq!(lines.len(), 9, "{stdout}");
    assert!(
        text(&plan.stderr).lines().any(|l| l.ends_with("writes: 0")),
        "plan never writes"
    );

    let reconcile = support::apigw_guard(&["reconcile", "--once", "-f", "examples/guard.yaml"]);
    assert!(reconcile.status.success(), "{}", text(&reconcile.stderr));
    let guard: apigw_guard::core::crd::ApiGatewayGuard =
        serde_yaml::from_str(&text(&reconcile.stdout)).unwrap();
    let status = guard.status.unwrap();
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("True", "Guarded")
    );
    assert_eq!(status.api_id.as_deref(), Some(api_id.as_str()));
    assert_eq!(status.alarm_summary.as_deref(), Some("3 INSUFFICIENT_DATA"));
    let links = status.links.unwrap();
    assert!(
        links
            .dashboard
            .unwrap()
            .ends_with("#dashboards/dashboard/apigw-guard-payments_orders-prod")
    );
    assert_eq!(links.alarms.len(), 3);
    let stderr = text(&reconcile.stderr);
    assert!(
        stderr.contains(
            "writes: 6 (UpdateStage x1, PutMetricAlarm x3, PutDashboard x1, UpdateUsagePlan x1)"
        ),
        "{stderr}"
    );

    let again = support::apigw_guard(&["reconcile", "--once", "-f", "examples/guard.yaml"]);
    assert!(again.status.success());
    assert!(
        text(&again.stderr)
            .lines()
            .any(|l| l.ends_with("writes: 0")),
        "{}",
        text(&again.stderr)
    );
    let plan = support::apigw_guard(&["plan", "-f", "examples/guard.yaml"]);
    let stdout = text(&plan.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[..2],
        [
            format!("guard payments/orders-prod (REST API orders-api {api_id}): in sync").as_str(),
            "  costs $3.30 a month (3 alarm(s) $0.30, 1 dashboard(s) $3.00)"
        ],
        "{stdout}"
    );
    assert_eq!(lines.len(), 3, "{stdout}");
}

#[test]
fn a_missing_api_fails_with_its_name_and_the_aws_code() {
    let example =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/guard.yaml"))
            .unwrap();
    let path = write_temp(
        "missing.yaml",
        &example.replace("name: orders-api", "name: ghost-api"),
    );
    let path = path.to_str().unwrap();
    for command in [
        &["plan", "-f", path][..],
        &["reconcile", "--once", "-f", path],
    ] {
        let out = support::apigw_guard(command);
        assert_eq!(out.status.code(), Some(1), "{command:?}");
        let all = text(&out.stdout) + &text(&out.stderr);
        assert!(all.contains("REST API named \"ghost-api\""), "{all}");
        assert!(all.contains("NotFoundException"), "{all}");
        assert!(!all.contains("writes: 1"), "{all}");
    }
}

#[test]
fn bad_files_name_the_file_and_line() {
    let path = write_temp(
        "typo.yaml",
        "apiVersion: apigw-guard.dev/v1alpha1\nkind: ApiGatewayGuard\nmetadata: {name: g}\n\
         spec:\n  restApi: {name: a}\n  stage: prod\n  tracng: {enabled: true}\n",
    );
    let out = support::apigw_guard(&["plan", "-f", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("typo.yaml:7: guard g: spec.tracng: unknown field"),
        "{stderr}"
    );

    let empty = write_temp("empty.yaml", "# nothing yet\n---\n");
    let out = support::apigw_guard(&["plan", "-f", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr)
            .contains("empty.yaml: no ApiGatewayGuard or ApiGatewayGuardPolicy documents"),
        "{}",
        text(&out.stderr)
    );

    let out = support::apigw_guard(&["reconcile", "--once", "-f", "no/such/file.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no/such/file.yaml"));
}

#[test]
fn reconcile_requires_once() {
    let out = support::apigw_guard(&["reconcile", "-f", "examples/guard.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--once"));
}

#[test]
fn run_help_documents_every_flag() {
    let out = support::apigw_guard(&["run", "--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for flag in [
        "--namespace",
        "--selector",
        "--resync-interval",
        "--concurrency",
        "--metrics-addr",
        "--leader-election",
        "--lease-name",
        "--lease-namespace",
        "--identity",
        "--log-format",
        "--endpoint-url",
        "--region",
        "--rate-limit",
    ] {
        let line = help
            .lines()
            .position(|l| l.trim_start().starts_with(flag))
            .unwrap_or_else(|| panic!("{flag} missing from:\n{help}"));
        let described = help
            .lines()
            .nth(line + 1)
            .is_some_and(|next| !next.trim().is_empty());
        assert!(described, "{flag} has no description:\n{help}");
    }
}

#[test]
fn run_without_a_cluster_fails_clearly() {
    let out = Command::new(env!("CARGO_BIN_EXE_apigw-guard"))
        .args([
            "run",
            "--metrics-addr",
            "127.0.0.1:0",
            "--log-format",
            "text",
        ])
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no Kubernetes client configuration"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn a_file_of_guards_shares_reads_and_waits_for_usage_plan_turns() {
    let region = "us-west-2";
    let config = support::config(region).await;
    support::set_log_role(&config).await;
    let mut file = String::new();
    for name in ["one", "two", "three"] {
        let api = support::seed_api(&config, &format!("cli-{name}-api"), "prod").await;
        support::seed_usage_plan(&config, &format!("cli-{name}-plan"), &api, "prod").await;
        file.push_str(&format!(
            "---
apiVersion: apigw-guard.dev/v1alpha1
kind: ApiGatewayGuard
metadata: {{name: {name}, namespace: cli}}
spec:
  region: {region}
  restApi: {{name: cli-{name}-api}}
  stage: prod
  tracing: {{enabled: true}}
  throttle: {{usagePlan: {{name: cli-{name}-plan}}, rateLimit: 10, burstLimit: 20}}
"
        ));
    }
    let path = write_temp("many.yaml", &file);
    // One usage-plan update every 2.5 s: the second and third wait for their turns.
    let out = support::apigw_guard(&[
        "reconcile",
        "--once",
        "-f",
        path.to_str().unwrap(),
        "--rate-limit",
        "apigateway-update-usage-plan=0.4/1",
    ]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("2 change(s) wait for their turn under AWS's quota"),
        "{stderr}"
    );
    let statuses: Vec<apigw_guard::core::crd::ApiGatewayGuard> =
        serde_yaml::Deserializer::from_str(&text(&out.stdout))
            .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
            .collect();
    assert_eq!(statuses.len(), 3);
    for guard in &statuses {
        let ready = guard.status.as_ref().unwrap().conditions.iter();
        assert!(
            ready
                .clone()
                .any(|c| c.type_ == "Ready" && c.status == "True"),
            "{guard:?}"
        );
    }
    // The three guards listed REST APIs and usage plans once between them.
    let listed = |op: &str| {
        stderr
            .lines()
            .filter_map(|l| l.split_once(&format!("{op} x")))
            .map(|(_, n)| {
                n.split(|c: char| !c.is_ascii_digit())
                    .next()
                    .unwrap()
                    .parse::<usize>()
                    .unwrap()
            })
            .sum::<usize>()
    };
    assert_eq!(listed("GetRestApis"), 1, "{stderr}");
    assert_eq!(listed("GetUsagePlans"), 1, "{stderr}");
    assert_eq!(listed("UpdateUsagePlan"), 3, "{stderr}");
}

#[tokio::test]
async fn diagnose_prints_a_json_report_and_refuses_an_unknown_api() {
    let region = "ap-northeast-2";
    let config = support::config(region).await;
    let api_id = support::seed_api(&config, "cli-diagnosed-api", "prod").await;
    let out = support::apigw_guard(&[
        "diagnose",
        "--api",
        "cli-diagnosed-api",
        "--stage",
        "prod",
        "--since",
        "30m",
        "--output",
        "json",
        "--region",
        region,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["apiId"], api_id.as_str());
    assert_eq!(report["apiKind"], "REST");
    assert_eq!(report["windowSeconds"], 1800);
    assert_eq!(
        report["logGroup"],
        format!("API-Gateway-Execution-Logs_{api_id}/prod").as_str()
    );
    assert_eq!(report["likely"], serde_json::Value::Null);
    assert_eq!(report["integrations"][0]["type"], "MOCK");
    // Without --probe no backend is sent anything.
    assert_eq!(report["probes"], serde_json::json!([]));

    let missing = support::apigw_guard(&[
        "diagnose",
        "--api",
        "no-such-api",
        "--stage",
        "prod",
        "--region",
        region,
    ]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing.stderr).contains("NotFoundException: no REST API named \"no-such-api\""),
        "{}",
        text(&missing.stderr)
    );
    let neither = support::apigw_guard(&["diagnose", "--stage", "prod"]);
    assert_eq!(neither.status.code(), Some(2));
    assert!(
        text(&neither.stderr).contains("--api"),
        "{}",
        text(&neither.stderr)
    );
}

#[tokio::test]
async fn guards_of_one_file_on_one_stage_the_first_keeps_it() {
    let config = support::config(REGION).await;
    let api_id = support::seed_api(&config, "cli-rivals-api", "prod").await;
    // The second takes the default region and names the API by id: the same stage all the same.
    let file = format!(
        "apiVersion: apigw-guard.dev/v1alpha1
kind: ApiGatewayGuard
metadata: {{name: first, namespace: team-a}}
spec:
  region: {REGION}
  restApi: {{name: cli-rivals-api}}
  stage: prod
  tracing: {{enabled: true}}
---
apiVersion: apigw-guard.dev/v1alpha1
kind: ApiGatewayGuard
metadata: {{name: second, namespace: team-b}}
spec:
  restApi: {{id: {api_id}}}
  stage: prod
  tracing: {{enabled: false}}
"
    );
    let path = write_temp("rivals.yaml", &file);
    let mut writes = 0;
    for _ in 0..2 {
        let out = support::apigw_guard(&["reconcile", "--once", "-f", path.to_str().unwrap()]);
        let stderr = text(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "the second is not Ready: {stderr}"
        );
        let statuses: Vec<apigw_guard::core::crd::ApiGatewayGuard> =
            serde_yaml::Deserializer::from_str(&text(&out.stdout))
                .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
                .collect();
        let stalled = statuses[1]
            .status
            .as_ref()
            .unwrap()
            .conditions
            .iter()
            .find(|c| c.type_ == "Stalled")
            .unwrap();
        assert_eq!(
            (stalled.status.as_str(), stalled.reason.as_str()),
            ("True", "Conflict")
        );
        assert!(
            stalled.message.contains("team-a/first"),
            "{}",
            stalled.message
        );
        let second = stderr
            .lines()
            .find(|l| l.starts_with("team-b/second: AWS calls: "))
            .unwrap();
        assert!(second.ends_with("writes: 0"), "{second}");
        writes += stderr.matches("UpdateStage x1").count();
    }
    assert_eq!(writes, 1, "the stage is written once, by the first guard");
    let tracing = aws_sdk_apigateway::Client::new(&config)
        .get_stage()
        .rest_api_id(&api_id)
        .stage_name("prod")
        .send()
        .await
        .unwrap()
        .tracing_enabled();
    assert!(tracing, "the first guard's tracing holds: no flip");
}

/// `op xN` counts summed over every `AWS calls:` line of `stderr`.
fn calls_by_operation(stderr: &str) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for line in stderr.lines().filter(|l| l.contains("AWS calls: ")) {
        for part in line.split(['(', ',', ')']) {
            if let Some((op, n)) = part.trim().split_once(" x") {
                *counts.entry(op.to_owned()).or_default() += n.parse::<usize>().unwrap();
            }
        }
    }
    counts
}

#[tokio::test]
async fn a_fresh_process_reads_one_get_stages_per_api_and_batches_the_rest() {
    let region = "eu-north-1";
    let config = support::config(region).await;
    let mut file = String::new();
    for i in 0..10 {
        support::seed_api(&config, &format!("cli-fresh-{i}-api"), "prod").await;
        file.push_str(&format!(
            "---
apiVersion: apigw-guard.dev/v1alpha1
kind: ApiGatewayGuard
metadata: {{name: fresh-{i}, namespace: cli}}
spec:
  region: {region}
  restApi: {{name: cli-fresh-{i}-api}}
  stage: prod
  tracing: {{enabled: true}}
  alarms: {{}}
"
        ));
    }
    let path = write_temp("fresh.yaml", &file);
    let cold = support::apigw_guard(&["reconcile", "--once", "-f", path.to_str().unwrap()]);
    assert!(cold.status.success(), "{}", text(&cold.stderr));
    // What a pipeline's next run, or a restarted operator, pays for 10 guards in sync.
    let again = support::apigw_guard(&["reconcile", "--once", "-f", path.to_str().unwrap()]);
    let stderr = text(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    let expected: std::collections::BTreeMap<String, usize> = [
        ("GetRestApis", 1),
        ("GetStages", 10),
        ("DescribeAlarms", 1),
        ("GetMetricData", 1),
    ]
    .into_iter()
    .map(|(op, n)| (op.to_owned(), n))
    .collect();
    assert_eq!(calls_by_operation(&stderr), expected, "{stderr}");
}

#[tokio::test]
async fn verify_reports_a_regressed_deployment_and_refuses_a_file_without_deployments() {
    let config = support::config(REGION).await;
    let api = "verify-cli-api";
    let api_id = support::seed_api(&config, api, "prod").await;
    let file = write_temp(
        "verify.yaml",
        &format!(
            "apiVersion: apigw-guard.dev/v1alpha1\nkind: ApiGatewayGuard\nmetadata: {{name: verify-cli, \
             namespace: ci}}\nspec:\n  region: {REGION}\n  restApi: {{name: {api}}}\n  stage: prod\n  \
             deployments: {{verifyFor: 30m}}\n"
        ),
    );
    let verify = |args: &[&str]| {
        let mut all = vec!["verify", "-f", file.to_str().unwrap()];
        all.extend(args);
        support::apigw_guard(&all)
    };
    // Just deployed, calm so far: still verifying, which without --wait is not a pass.
    let deployed = aws_sdk_apigateway::Client::new(&config)
        .create_deployment()
        .rest_api_id(&api_id)
        .stage_name("prod")
        .send()
        .await
        .unwrap();
    let id = deployed.id().unwrap();
    let out = verify(&[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.starts_with(&format!(
            "ci/verify-cli: deployment {id}: Verifying: verifying {id} for 30 more minute(s)"
        )),
        "{stdout}"
    );
    // Half the requests fail since: regressed, exit 1 at once even with --wait; nothing is
    // rolled back by the command.
    let figures = [("Count", 100.0), ("5XXError", 50.0)];
    support::put_metrics_now(&config, ("ApiName", api), &figures).await;
    let out = verify(&["--wait", "--interval", "1s"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!("deployment {id}: Regressed: 5XX share 50.00 %")),
        "{stdout}"
    );
    assert!(!stdout.contains("not rolled back"), "{stdout}");
    let stage = aws_sdk_apigateway::Client::new(&config)
        .get_stage()
        .rest_api_id(&api_id)
        .stage_name("prod")
        .send()
        .await
        .unwrap();
    assert_eq!(stage.deployment_id(), Some(id));
    // A pipeline that names its deployment fails once the stage serves another.
    let out = verify(&["--deployment", "an-older-one"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "the stage serves deployment {id}, not an-older-one"
        )),
        "{stdout}"
    );
    // A file without spec.deployments is bad input.
    let out = support::apigw_guard(&["verify", "-f", "examples/guard.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("examples/guard.yaml: no ApiGatewayGuard with spec.deployments"),
        "{}",
        text(&out.stderr)
    );
}

/// No identical read twice in one run (issue 32): the account is asked of STS once for every
/// guard and region of an identity, an API that does not exist is listed for once, a dry
/// run reads the tags of only the alarms it would write, and a dashboard to delete is read
/// once before DeleteDashboards.
#[tokio::test]
async fn one_run_makes_no_identical_read_twice() {
    let region = "ap-south-1";
    let config = support::config(region).await;
    support::seed_api(&config, "cli-once-api", "prod").await;
    support::seed_api(&config, "cli-once-other-api", "prod").await;
    let guard = |name: &str, api: &str, extra: &str| {
        format!(
            "---
apiVersion: apigw-guard.dev/v1alpha1
kind: ApiGatewayGuard
metadata: {{name: {name}, namespace: cli}}
spec:
  restApi: {{name: {api}}}
  stage: prod
  alarms: {{{extra}}}
  dashboard: {{}}
"
        )
    };
    // Two guards with dashboards (whose widgets name the account), one naming the region and
    // one taking it from the environment, and one on an API that does not exist.
    let file = [
        guard("once", "cli-once-api", ""),
        guard("once-other", "cli-once-other-api", "").replace(
            "  stage: prod\n",
            &format!("  stage: prod\n  region: {region}\n"),
        ),
        guard("once-missing", "cli-no-such-api", ""),
    ]
    .concat();
    let path = write_temp("once.yaml", &file);
    let path = path.to_str().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_apigw-guard"))
            .args(args)
            .env("AWS_ENDPOINT_URL", support::endpoint())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", region)
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap();
        calls_by_operation(&text(&out.stderr))
    };
    // One listing, and one more for the API it lacked (it may be newer than the listing),
    // never a third for the same name.
    let applied = run(&["reconcile", "--once", "-f", path]);
    assert_eq!(applied.get("GetCallerIdentity"), Some(&1), "{applied:?}");
    assert_eq!(applied.get("GetRestApis"), Some(&2), "{applied:?}");
    let missing = guard("once-missing", "cli-no-such-api", "");
    let alone = write_temp("once-missing.yaml", &missing);
    let looked = run(&["plan", "-f", alone.to_str().unwrap()]);
    assert_eq!(looked.get("GetRestApis"), Some(&1), "{looked:?}");

    // One alarm's threshold changed: the dry run reads that alarm's tags only.
    let changed = file.replacen("alarms: {}", "alarms: {latency: {threshold: 900}}", 1);
    let changed_path = write_temp("once-changed.yaml", &changed);
    let planned = run(&["plan", "-f", changed_path.to_str().unwrap()]);
    assert_eq!(planned.get("ListTagsForResource"), Some(&1), "{planned:?}");
    assert_eq!(planned.get("GetRestApis"), Some(&2), "{planned:?}");

    // The dashboards dropped: each is read once, then deleted.
    let dropped = file.replace("  dashboard: {}\n", "  dashboard: {enabled: false}\n");
    let dropped_path = write_temp("once-dropped.yaml", &dropped);
    let deleted = run(&["reconcile", "--once", "-f", dropped_path.to_str().unwrap()]);
    assert_eq!(deleted.get("DeleteDashboards"), Some(&2), "{deleted:?}");
    assert_eq!(deleted.get("GetDashboard"), Some(&2), "{deleted:?}");
}

/// Errors that point to the fix (issue 33): where a missing API was looked for, the stages
/// the API has when the stage named is not one, and the other kind's API of that name.
#[tokio::test]
async fn errors_say_where_they_looked_and_what_exists() {
    let config = support::config(REGION).await;
    support::seed_api(&config, "cli-hint-api", "prod").await;
    support::seed_http_api(&config, "cli-hint-http", "$default", &[]).await;
    let guard = |api: &str, stage: &str| {
        format!(
            "apiVersion: apigw-guard.dev/v1alpha1\nkind: ApiGatewayGuard\nmetadata: {{name: hint, \
             namespace: cli}}\nspec:\n  {api}\n  stage: '{stage}'\n"
        )
    };
    let plan = |name: &str, document: String| {
        let path = write_temp(name, &document);
        let out = support::apigw_guard(&["plan", "-f", path.to_str().unwrap()]);
        text(&out.stdout) + &text(&out.stderr)
    };
    let said = plan(
        "hint-kind.yaml",
        guard("restApi: {name: cli-hint-http}", "$default"),
    );
    assert!(
        said.contains(&format!(
            "REST API named \"cli-hint-http\" in {REGION}, account 123456789012: GetRestApis failed: NotFoundException"
        )),
        "{said}"
    );
    assert!(
        said.contains("an HTTP API of that name exists (")
            && said.contains("): name it with spec.httpApi"),
        "{said}"
    );
    let said = plan(
        "hint-stage.yaml",
        guard("restApi: {name: cli-hint-api}", "prd"),
    );
    assert!(said.contains("the API's stages: prod"), "{said}");
    let said = plan(
        "hint-none.yaml",
        guard("restApi: {name: cli-no-such-api}", "prod"),
    );
    assert!(
        said.contains(&format!("in {REGION}, account 123456789012:")),
        "{said}"
    );
    assert!(!said.contains("of that name exists"), "{said}");
    assert!(
        !said.contains("guard(s) cost"),
        "a plan that read no API costs nothing: {said}"
    );
    let out = support::apigw_guard(&["diagnose", "--api", "cli-hint-http", "--stage", "$default"]);
    let said = text(&out.stderr);
    assert!(said.contains("name it with --kind http"), "{said}");
}

/// `-f -` reads the documents from standard input, as kubectl's does: `kubectl kustomize DIR |
/// apigw-guard plan -f -` works, and errors name `<stdin>` and the line.
#[tokio::test]
async fn plan_reads_standard_input_for_dash() {
    use std::io::Write;
    let config = support::config(REGION).await;
    support::seed_api(&config, "cli-stdin-api", "prod").await;
    let plan = |document: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_apigw-guard"))
            .args(["plan", "-f", "-"])
            .env("AWS_ENDPOINT_URL", support::endpoint())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", REGION)
            .env_remove("AWS_PROFILE")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(document.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let good = "apiVersion: apigw-guard.dev/v1alpha1\nkind: ApiGatewayGuard\nmetadata: {name: stdin, \
                namespace: cli}\nspec:\n  restApi: {name: cli-stdin-api}\n  stage: prod\n  tracing: \
                {enabled: true}\n";
    let out = plan(good);
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("guard cli/stdin (REST API cli-stdin-api "),
        "{stdout}{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("/tracingEnabled false -> true"), "{stdout}");
    let out = plan(&good.replace("stage: prod", "stage: prod\n  tracng: {}"));
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("<stdin>:"), "{stderr}");
    assert!(stderr.contains("spec.tracng"), "{stderr}");
}
