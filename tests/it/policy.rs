//! A policy expanded by the CLI against the local AWS: `plan -f` lists the stages it matches
//! and the guards it would keep, `reconcile --once -f` guards exactly those.

use crate::support;

use support::REGION;

/// Twenty APIs `fleet-NN`, each with a prod and a dev stage; the even ones tagged team=fleet.
async fn seed_fleet(config: &aws_config::SdkConfig) -> Vec<String> {
    let apigw = aws_sdk_apigateway::Client::new(config);
    let mut ids = Vec::new();
    for i in 0..20 {
        let id = support::seed_api(config, &format!("fleet-{i:02}"), "prod").await;
        apigw
            .create_deployment()
            .rest_api_id(&id)
            .stage_name("dev")
            .send()
            .await
            .unwrap();
        if i % 2 == 0 {
            support::tag_api(config, &id, &[("team", "fleet")]).await;
        }
        ids.push(id);
    }
    ids
}

const POLICY: &str = "apiVersion: apigw-guard.dev/v1alpha1
kind: ApiGatewayGuardPolicy
metadata: {name: fleet, namespace: ops}
spec:
  region: us-east-1
  selector:
    restApiTags: {team: fleet}
    restApiNames: ['fleet-*']
    stages: [prod]
  template:
    tracing: {enabled: true}
    alarms: {actions: ['arn:aws:sns:us-east-1:123456789012:oncall']}
";

const EXPLICIT: &str = "apiVersion: apigw-guard.dev/v1alpha1
kind: ApiGatewayGuard
metadata: {name: by-hand, namespace: ops}
spec:
  region: us-east-1
  restApi: {name: fleet-04}
  stage: prod
  tracing: {enabled: true}
";

#[tokio::test]
async fn a_policy_guards_exactly_the_matching_stages() {
    let config = support::config(REGION).await;
    let ids = seed_fleet(&config).await;
    let dir = std::env::temp_dir().join(format!("apigw-guard-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fleet.yaml");
    // A second policy matching the same stages, later in the file: the first is the older.
    let late = POLICY.replace("name: fleet,", "name: fleet-late,");
    std::fs::write(&path, format!("{POLICY}---\n{EXPLICIT}---\n{late}")).unwrap();
    let file = path.to_str().unwrap();

    let plan = support::apigw_guard(&["plan", "-f", file]);
    let stdout = String::from_utf8_lossy(&plan.stdout).into_owned();
    assert!(
        plan.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    // Discovery: one GetRestApis page for the 20 APIs, one GetStages per tagged one.
    assert_eq!(
        lines[0],
        "policy ops/fleet: 10 stage(s) matched (AWS calls: reads: 12 (GetRestApis x1, GetStages x10, GetApis x1), writes: 0)"
    );
    let covered: Vec<&str> = lines[1..11].to_vec();
    for (i, line) in covered.iter().enumerate() {
        let api = format!("fleet-{:02}", i * 2);
        match i * 2 {
            4 => assert_eq!(
                *line,
                format!("  = {api}/prod: skipped, guard ops/by-hand guards it")
            ),
            _ => assert!(
                line.starts_with(&format!("  + {api}/prod: guard fleet-{api}-prod-")),
                "{line}"
            ),
        }
    }
    assert!(lines[11].starts_with("policy ops/fleet-late: 10 stage(s) matched"));
    for (i, line) in lines[12..22].iter().enumerate() {
        let api = format!("fleet-{:02}", i * 2);
        let expected = match i * 2 {
            4 => format!("  = {api}/prod: skipped, guard ops/by-hand guards it"),
            _ => format!("  ! {api}/prod: the older policy ops/fleet guards it"),
        };
        assert_eq!(*line, expected);
    }
    // Then the plan of each guard: the explicit one and the nine the first policy keeps.
    let guards = lines.iter().filter(|l| l.starts_with("guard ")).count();
    assert_eq!(guards, 10, "{stdout}");

    let out = support::apigw_guard(&["reconcile", "--once", "-f", file]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let alarms = support::alarm_names(&config, "apigw-guard-ops_fleet-").await;
    assert_eq!(alarms.len(), 9 * 3, "{alarms:?}");
    let apigw = aws_sdk_apigateway::Client::new(&config);
    for (i, id) in ids.iter().enumerate() {
        for stage in ["prod", "dev"] {
            let tracing = apigw
                .get_stage()
                .rest_api_id(id)
                .stage_name(stage)
                .send()
                .await
                .unwrap()
                .tracing_enabled();
            assert_eq!(
                tracing,
                i % 2 == 0 && stage == "prod",
                "fleet-{i:02}/{stage}"
            );
        }
        let guarded = alarms
            .iter()
            .any(|a| a.starts_with(&format!("apigw-guard-ops_fleet-fleet-{i:02}-prod-")));
        assert_eq!(guarded, i % 2 == 0 && i != 4, "fleet-{i:02}: {alarms:?}");
    }
    // No policy alarm on any dev stage, nor on an untagged API.
    assert!(alarms.iter().all(|a| !a.contains("-dev-")), "{alarms:?}");
}

const MIXED: &str = "apiVersion: apigw-guard.dev/v1alpha1
kind: ApiGatewayGuardPolicy
metadata: {name: mixed, namespace: ops}
spec:
  region: us-east-1
  selector:
    restApiTags: {team: mixed}
    restApiNames: ['mixed-*']
    stages: [prod]
  template:
    tracing: {enabled: true}
    detailedMetrics: true
    stageThrottle: {rateLimit: 10, burstLimit: 5}
    alarms: {}
";

/// One policy over a fleet of both kinds: each stage gets a guard of its kind, without the
/// template's sections its kind does not have, and the plan says which.
#[tokio::test]
async fn a_policy_guards_a_mixed_fleet_each_stage_with_the_controls_of_its_kind() {
    let config = support::config(REGION).await;
    let v2 = aws_sdk_apigatewayv2::Client::new(&config);
    let mut rest = Vec::new();
    let mut http = Vec::new();
    for i in 0..2 {
        let id = support::seed_api(&config, &format!("mixed-rest-{i}"), "prod").await;
        support::tag_api(&config, &id, &[("team", "mixed")]).await;
        rest.push(id);
        let id = support::seed_http_api(&config, &format!("mixed-http-{i}"), "prod", &[]).await;
        support::tag_v2_api(&config, &id, &[("team", "mixed")]).await;
        http.push(id);
    }
    // Of the fleet's name but not its team: not matched.
    support::seed_http_api(&config, "mixed-http-untagged", "prod", &[]).await;
    let dir = std::env::temp_dir().join(format!("apigw-guard-mixed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("mixed.yaml");
    std::fs::write(&path, MIXED).unwrap();
    let file = path.to_str().unwrap();

    let plan = support::apigw_guard(&["plan", "-f", file]);
    let stdout = String::from_utf8_lossy(&plan.stdout).into_owned();
    assert!(plan.status.success(), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("policy ops/mixed: 4 stage(s) matched"),
        "{stdout}"
    );
    for i in 0..2 {
        let http_line = lines[1..5]
            .iter()
            .find(|l| l.starts_with(&format!("  + mixed-http-{i}/prod (HTTP API): guard ")))
            .unwrap_or_else(|| panic!("{stdout}"));
        assert!(
            http_line.ends_with(", without the template's tracing"),
            "{http_line}"
        );
        let rest_line = lines[1..5]
            .iter()
            .find(|l| l.starts_with(&format!("  + mixed-rest-{i}/prod: guard ")))
            .unwrap_or_else(|| panic!("{stdout}"));
        assert!(
            rest_line.ends_with(", without the template's detailedMetrics"),
            "{rest_line}"
        );
    }

    let out = support::apigw_guard(&["reconcile", "--once", "-f", file]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for id in &rest {
        assert!(support::tracing_enabled(&config, id, "prod").await);
        assert_eq!(support::stage_rate_limit(&config, id, "prod").await, 10.0);
    }
    for id in &http {
        let stage = v2
            .get_stage()
            .api_id(id)
            .stage_name("prod")
            .send()
            .await
            .unwrap();
        let defaults = stage.default_route_settings().unwrap();
        assert_eq!(defaults.detailed_metrics_enabled(), Some(true));
        assert_eq!(defaults.throttling_rate_limit(), Some(10.0));
    }
    let cw = aws_sdk_cloudwatch::Client::new(&config);
    let alarms = cw
        .describe_alarms()
        .alarm_name_prefix("apigw-guard-ops_mixed-")
        .send()
        .await
        .unwrap();
    let metrics: Vec<(&str, &str)> = alarms
        .metric_alarms()
        .iter()
        .filter(|a| a.alarm_name().is_some_and(|n| n.ends_with("_5xx")))
        .map(|a| {
            let api = a.dimensions()[0].name().unwrap_or_default();
            (a.metric_name().unwrap_or_default(), api)
        })
        .collect();
    assert_eq!(metrics.len(), 4, "{metrics:?}");
    assert_eq!(
        metrics.iter().filter(|m| **m == ("5xx", "ApiId")).count(),
        2,
        "{metrics:?}"
    );
    assert_eq!(
        metrics
            .iter()
            .filter(|m| **m == ("5XXError", "ApiName"))
            .count(),
        2,
        "{metrics:?}"
    );
}

/// A policy over the kinds named: `sockets-all` names WEBSOCKET beside REST and guards the
/// WebSocket API's stage too (without the template's tracing, which it has not), with its
/// route settings; `sockets-default` names no kinds and takes REST and HTTP APIs only, so a
/// policy written before WebSocket APIs were guarded does not start guarding them.
#[tokio::test]
async fn a_policy_takes_websocket_apis_only_when_its_kinds_name_them() {
    let config = support::config(REGION).await;
    let v2 = aws_sdk_apigatewayv2::Client::new(&config);
    let rest = support::seed_api(&config, "sockets-rest", "prod").await;
    support::tag_api(&config, &rest, &[("team", "sockets")]).await;
    let socket = support::seed_websocket_api(&config, "sockets-live", "prod", &["$connect"]).await;
    support::tag_v2_api(&config, &socket, &[("team", "sockets")]).await;
    let policy = |name: &str, kinds: &str| {
        format!(
            "apiVersion: apigw-guard.dev/v1alpha1
kind: ApiGatewayGuardPolicy
metadata: {{name: {name}, namespace: ops}}
spec:
  region: {REGION}
  selector:
    {kinds}restApiTags: {{team: sockets}}
    restApiNames: ['sockets-*']
    stages: [prod]
  template:
    tracing: {{enabled: true}}
    stageThrottle: {{rateLimit: 10, burstLimit: 5}}
"
        )
    };
    let dir = std::env::temp_dir().join(format!("apigw-guard-sockets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plan = |name: &str, kinds: &str| {
        let path = dir.join(format!("{name}.yaml"));
        std::fs::write(&path, policy(name, kinds)).unwrap();
        let out = support::apigw_guard(&["plan", "-f", path.to_str().unwrap()]);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{stdout}");
        (path, stdout)
    };
    let (_, default) = plan("sockets-default", "");
    assert!(
        default.starts_with("policy ops/sockets-default: 1 stage(s) matched"),
        "{default}"
    );
    assert!(!default.contains("sockets-live"), "{default}");
    let (path, all) = plan("sockets-all", "apiKinds: [REST, WEBSOCKET]\n    ");
    assert!(
        all.starts_with("policy ops/sockets-all: 2 stage(s) matched"),
        "{all}"
    );
    assert!(
        all.lines().any(
            |l| l.starts_with("  + sockets-live/prod (WebSocket API): guard ")
                && l.ends_with(", without the template's tracing")
        ),
        "{all}"
    );
    let out = support::apigw_guard(&["reconcile", "--once", "-f", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stage = v2
        .get_stage()
        .api_id(&socket)
        .stage_name("prod")
        .send()
        .await
        .unwrap();
    let defaults = stage.default_route_settings().unwrap();
    assert_eq!(defaults.throttling_rate_limit(), Some(10.0));
    assert!(support::tracing_enabled(&config, &rest, "prod").await);
}
