//! The local AWS for integration tests: moto behind the CBOR bridge (scripts/local_aws.py),
//! one for the integration tests' binary (and one per bench), plus helpers that seed it the way
//! a team would deploy an API.

#![allow(dead_code)] // each bench (benches/, through #[path]) uses its own subset

pub mod envtest;
pub mod fault_proxy;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_apigateway::config::Credentials;
use aws_sdk_apigateway::types::{ApiStage, Op, PatchOperation};
use aws_sdk_apigatewayv2::types::ProtocolType;

pub const REGION: &str = "us-east-1";
/// A region whose API Gateway account has no CloudWatch Logs role (no test sets one there).
pub const REGION_WITHOUT_LOG_ROLE: &str = "eu-west-1";
pub const LOG_ROLE: &str = "arn:aws:iam::123456789012:role/apigw-cloudwatch-logs";

struct LocalAws {
    endpoint: String,
    /// Held so its stdin pipe stays open: the server exits when this process ends.
    _process: Mutex<Child>,
}

static LOCAL_AWS: OnceLock<LocalAws> = OnceLock::new();

/// The local AWS endpoint, started on first use.
pub fn endpoint() -> &'static str {
    &LOCAL_AWS.get_or_init(start).endpoint
}

fn start() -> LocalAws {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "no local AWS virtualenv at {}: run `scripts/local-aws install` (scripts/test does)",
        python.display()
    );
    let mut child = Command::new(python)
        .arg(root.join("scripts/local_aws.py"))
        .args(["--port", "0", "--exit-with-parent"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("local AWS starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut line)
        .expect("local AWS prints its endpoint");
    let endpoint = line
        .trim()
        .strip_prefix("AWS_ENDPOINT_URL=")
        .unwrap_or_else(|| panic!("unexpected first line from local AWS: {line:?}"))
        .to_owned();
    LocalAws {
        endpoint,
        _process: Mutex::new(child),
    }
}

/// SDK configuration for the local AWS in `region`, with static test credentials.
pub async fn config(region: &str) -> SdkConfig {
    config_at(
        region,
        endpoint(),
        aws_config::retry::RetryConfig::standard(),
    )
    .await
}

/// SDK configuration for `endpoint` (e.g. a fault proxy in front of the local AWS).
pub async fn config_at(
    region: &str,
    endpoint: &str,
    retry: aws_config::retry::RetryConfig,
) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .retry_config(retry)
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .load()
        .await
}

/// `apigw-guard ARGS` as users run it, against the local AWS in [`REGION`], from the project's
/// folder (for the example files).
pub fn apigw_guard(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_apigw-guard"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", REGION)
        .env_remove("AWS_PROFILE")
        .output()
        .expect("apigw-guard runs")
}

/// The role the tests' AwsAccounts name in `account`.
pub fn role_in(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/apigw-guard")
}

/// SDK configuration acting in `account` (12 digits) of the local AWS, through STS AssumeRole
/// of [`role_in`]: the local AWS keeps accounts apart by the assumed role's account.
pub async fn config_in(account: &str, region: &str) -> SdkConfig {
    let base = config(region).await;
    let role = aws_config::sts::AssumeRoleProvider::builder(role_in(account))
        .session_name("apigw-guard-tests")
        .configure(&base)
        .build()
        .await;
    base.to_builder()
        .credentials_provider(aws_sdk_sts::config::SharedCredentialsProvider::new(role))
        .build()
}

/// Tags a REST API (TagResource), e.g. `team=payments` for an AwsAccount's rule.
pub async fn tag_api(config: &SdkConfig, api_id: &str, tags: &[(&str, &str)]) {
    let arn = format!(
        "arn:aws:apigateway:{}::/restapis/{api_id}",
        config.region().unwrap()
    );
    let mut request = aws_sdk_apigateway::Client::new(config)
        .tag_resource()
        .resource_arn(arn);
    for (key, value) in tags {
        request = request.tags(*key, *value);
    }
    request.send().await.unwrap();
}

/// One v2 deployment of `api_id` to its stage prod (CreateDeployment with the stage: the
/// stage then serves it), with its id.
pub async fn deploy_v2(config: &SdkConfig, api_id: &str) -> String {
    aws_sdk_apigatewayv2::Client::new(config)
        .create_deployment()
        .api_id(api_id)
        .stage_name("prod")
        .send()
        .await
        .unwrap()
        .deployment_id()
        .unwrap()
        .to_owned()
}

/// The deployment a v2 stage prod serves.
pub async fn serving_v2(config: &SdkConfig, api_id: &str) -> Option<String> {
    aws_sdk_apigatewayv2::Client::new(config)
        .get_stage()
        .api_id(api_id)
        .stage_name("prod")
        .send()
        .await
        .unwrap()
        .deployment_id()
        .map(str::to_owned)
}

/// Tags a v2 API (HTTP or WebSocket) by its ARN.
pub async fn tag_v2_api(config: &SdkConfig, api_id: &str, tags: &[(&str, &str)]) {
    let arn = format!(
        "arn:aws:apigateway:{}::/apis/{api_id}",
        config.region().unwrap()
    );
    let mut request = aws_sdk_apigatewayv2::Client::new(config)
        .tag_resource()
        .resource_arn(arn);
    for (key, value) in tags {
        request = request.tags(*key, *value);
    }
    request.send().await.unwrap();
}

/// The status, reason and message of the guard's `type_` condition, failing when it has none.
pub fn condition<'a>(
    status: &'a apigw_guard::core::crd::ApiGatewayGuardStatus,
    type_: &str,
) -> (&'a str, &'a str, &'a str) {
    let c = status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {status:#?}"));
    (c.status.as_str(), c.reason.as_str(), c.message.as_str())
}

/// The status, reason and message of `guard`'s `type_` condition, if it has a status and one.
pub fn guard_condition(
    guard: &apigw_guard::core::crd::ApiGatewayGuard,
    type_: &str,
) -> Option<(String, String, String)> {
    let c = guard
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// Whether the stage has X-Ray tracing on, as AWS has it.
pub async fn tracing_enabled(config: &SdkConfig, api_id: &str, stage: &str) -> bool {
    aws_sdk_apigateway::Client::new(config)
        .get_stage()
        .rest_api_id(api_id)
        .stage_name(stage)
        .send()
        .await
        .unwrap()
        .tracing_enabled()
}

/// Deploys a REST API with one MOCK GET method to `stage`; returns the API id.
pub async fn seed_api(config: &SdkConfig, name: &str, stage: &str) -> String {
    seed_api_calling(config, name, stage, None).await
}

/// Deploys a REST API whose GET / calls `lambda_uri` through a Lambda proxy integration
/// (MOCK when `None`) to `stage`; returns the API id.
pub async fn seed_api_calling(
    config: &SdkConfig,
    name: &str,
    stage: &str,
    lambda_uri: Option<&str>,
) -> String {
    let apigw = aws_sdk_apigateway::Client::new(config);
    let (api_id, root) = create_api(&apigw, name).await;
    apigw
        .put_method()
        .rest_api_id(&api_id)
        .resource_id(&root)
        .http_method("GET")
        .authorization_type("NONE")
        .send()
        .await
        .unwrap();
    let integration = apigw
        .put_integration()
        .rest_api_id(&api_id)
        .resource_id(&root)
        .http_method("GET");
    let integration = match lambda_uri {
        None => integration.r#type(aws_sdk_apigateway::types::IntegrationType::Mock),
        Some(uri) => integration
            .r#type(aws_sdk_apigateway::types::IntegrationType::AwsProxy)
            .integration_http_method("POST")
            .uri(uri)
            .timeout_in_millis(29_000),
    };
    integration.send().await.unwrap();
    deploy(config, &api_id, stage).await;
    api_id
}

/// Deploys the REST API to `stage` (CreateDeployment), creating the stage or pointing it at
/// the new deployment; the deployment's id.
pub async fn deploy(config: &SdkConfig, api_id: &str, stage: &str) -> String {
    let deployment = aws_sdk_apigateway::Client::new(config)
        .create_deployment()
        .rest_api_id(api_id)
        .stage_name(stage)
        .send()
        .await
        .unwrap();
    deployment.id().unwrap().to_owned()
}

/// The deployment stage prod of `api_id` serves, and when the stage last changed
/// (GetStage's lastUpdatedDate): a rollback is an UpdateStage, which moves it.
pub async fn stage_serving(
    config: &SdkConfig,
    api_id: &str,
) -> (String, Option<aws_sdk_apigateway::primitives::DateTime>) {
    let stage = aws_sdk_apigateway::Client::new(config)
        .get_stage()
        .rest_api_id(api_id)
        .stage_name("prod")
        .send()
        .await
        .unwrap();
    (
        stage.deployment_id().unwrap_or_default().to_owned(),
        stage.last_updated_date().copied(),
    )
}

/// The stage throttle's rate limit (the `*/*` method settings), as AWS has it.
pub async fn stage_rate_limit(config: &SdkConfig, api_id: &str, stage: &str) -> f64 {
    let got = aws_sdk_apigateway::Client::new(config)
        .get_stage()
        .rest_api_id(api_id)
        .stage_name(stage)
        .send()
        .await
        .unwrap();
    got.method_settings().unwrap()["*/*"].throttling_rate_limit()
}

/// Creates a REST API with no methods; returns its id and its root resource's id.
pub async fn create_api(apigw: &aws_sdk_apigateway::Client, name: &str) -> (String, String) {
    let api = apigw.create_rest_api().name(name).send().await.unwrap();
    let api_id = api.id().unwrap().to_owned();
    let resources = apigw
        .get_resources()
        .rest_api_id(&api_id)
        .send()
        .await
        .unwrap();
    let root = resources.items()[0].id().unwrap().to_owned();
    (api_id, root)
}

/// Creates a usage plan serving `api_id`/`stage`; returns its id.
pub async fn seed_usage_plan(config: &SdkConfig, name: &str, api_id: &str, stage: &str) -> String {
    let apigw = aws_sdk_apigateway::Client::new(config);
    let plan = apigw
        .create_usage_plan()
        .name(name)
        .api_stages(ApiStage::builder().api_id(api_id).stage(stage).build())
        .send()
        .await
        .unwrap();
    plan.id().unwrap().to_owned()
}

/// Sets the account's CloudWatch Logs role, which real AWS requires for execution logging.
pub async fn set_log_role(config: &SdkConfig) {
    aws_sdk_apigateway::Client::new(config)
        .update_account()
        .patch_operations(
            PatchOperation::builder()
                .op(Op::Replace)
                .path("/cloudwatchRoleArn")
                .value(LOG_ROLE)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// Whether deploy/rbac.yaml (ClusterRole and Role rules together) lets the operator do `verb`
/// on `resource` of API `group`.
pub fn rbac_allows(group: &str, resource: &str, verb: &str) -> bool {
    use serde::Deserialize;
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/rbac.yaml"))
            .unwrap();
    serde_yaml::Deserializer::from_str(&text).any(|document| {
        let object = serde_json::Value::deserialize(document).unwrap();
        object["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|rule| {
                let has = |key: &str, value: &str| {
                    rule[key]
                        .as_array()
                        .is_some_and(|items| items.iter().any(|i| i == value || i == "*"))
                };
                has("apiGroups", group) && has("resources", resource) && has("verbs", verb)
            })
    })
}

/// The RBAC (group, resource, verb) a Kubernetes API request needs.
pub fn rbac_request(method: &http::Method, path: &str) -> (String, String, String) {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (group, rest) = match parts.first() {
        Some(&"api") => (String::new(), &parts[2..]),
        _ => (parts[1].to_owned(), &parts[3..]),
    };
    // namespaces/{ns}/{resource}[/{name}[/{subresource}]]
    let rest = if rest.first() == Some(&"namespaces") && rest.len() > 2 {
        &rest[2..]
    } else {
        rest
    };
    let resource = match rest {
        [resource, _name, sub, ..] => format!("{resource}/{sub}"),
        [resource, ..] => (*resource).to_owned(),
        [] => String::new(),
    };
    let verb = match (method.as_str(), rest.len()) {
        ("GET", 1) => "list",
        ("GET", _) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", _) => "delete",
        (other, _) => other,
    };
    (group, resource, verb.to_owned())
}

/// Clients for the local AWS without AWS's quotas (moto has none; the limits have their own
/// tests), so tests do not wait 20 s between usage-plan updates.
pub fn unlimited_clients(config: &SdkConfig) -> apigw_guard::aws::RegionalClients {
    use apigw_guard::aws::{Limit, Quota, RateLimits, RegionalClients};
    let fast = Limit {
        per_second: 1000.0,
        burst: 1000,
    };
    let limits = RateLimits::new(Quota::ALL.map(|quota| (quota, fast)));
    RegionalClients::with_limits(config.clone(), std::sync::Arc::new(limits))
}

/// An AwsAccount `name` whose role is in `account` of the local AWS, selecting the namespaces
/// `selector` selects, with `extra` (indented spec lines) after.
pub fn aws_account_yaml(name: &str, account: &str, selector: &str, extra: &str) -> String {
    format!(
        "apiVersion: apigw-guard.dev/v1alpha1
kind: AwsAccount
metadata: {{name: {name}}}
spec:
  roleArn: {}
  externalId: ext-{name}
  namespaceSelector: {selector}
{extra}",
        role_in(account)
    )
}

/// Someone else's alarm: owned (by tag) by `owner`, not by any guard of the test.
pub async fn put_foreign_alarm(
    config: &SdkConfig,
    name: &str,
    metric: &str,
    owner: &str,
    threshold: f64,
) {
    use aws_sdk_cloudwatch::types::{ComparisonOperator, Statistic, Tag};
    aws_sdk_cloudwatch::Client::new(config)
        .put_metric_alarm()
        .alarm_name(name)
        .namespace("AWS/ApiGateway")
        .metric_name(metric)
        .statistic(Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(threshold)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .tags(
            Tag::builder()
                .key(apigw_guard::core::model::OWNER_TAG)
                .value(owner)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// Switches X-Ray tracing off by hand, as someone in the console would.
pub async fn disable_tracing_by_hand(config: &SdkConfig, api_id: &str) {
    aws_sdk_apigateway::Client::new(config)
        .update_stage()
        .rest_api_id(api_id)
        .stage_name("prod")
        .patch_operations(
            PatchOperation::builder()
                .op(Op::Replace)
                .path("/tracingEnabled")
                .value("false")
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// Puts a REST API's metrics for `api_name`/prod as API Gateway would (by ApiName).
pub async fn put_stage_metrics(config: &SdkConfig, api_name: &str, figures: &[(&str, &[f64])]) {
    put_api_metrics(config, ("ApiName", api_name), figures).await
}

/// Puts API Gateway metrics for a stage prod of the API that `api` names, timestamped now: in
/// a deployment's window that began a moment ago. `figures` are (metric, value).
pub async fn put_metrics_now(
    config: &SdkConfig,
    (dimension, api): (&str, &str),
    figures: &[(&str, f64)],
) {
    use aws_sdk_cloudwatch::primitives::DateTime;
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    let now = DateTime::from_secs(apigw_guard::aws::now_secs());
    let client = aws_sdk_cloudwatch::Client::new(config);
    for (metric, value) in figures {
        let datum = MetricDatum::builder()
            .metric_name(*metric)
            .dimensions(Dimension::builder().name(dimension).value(api).build())
            .dimensions(Dimension::builder().name("Stage").value("prod").build())
            .timestamp(now)
            .value(*value)
            .build();
        client
            .put_metric_data()
            .namespace("AWS/ApiGateway")
            .metric_data(datum)
            .send()
            .await
            .unwrap();
    }
}

/// Puts API Gateway metrics for a stage prod of the API that `api` names (`ApiName` of a REST
/// API, `ApiId` of an HTTP API) as API Gateway would: one data point per value, a minute ago.
/// `figures` are (metric, values).
pub async fn put_api_metrics(
    config: &SdkConfig,
    (dimension, api): (&str, &str),
    figures: &[(&str, &[f64])],
) {
    use aws_sdk_cloudwatch::primitives::DateTime;
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    let at = DateTime::from_secs(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            - 60,
    );
    let client = aws_sdk_cloudwatch::Client::new(config);
    for (metric, values) in figures {
        let data: Vec<MetricDatum> = values
            .iter()
            .map(|value| {
                MetricDatum::builder()
                    .metric_name(*metric)
                    .dimensions(Dimension::builder().name(dimension).value(api).build())
                    .dimensions(Dimension::builder().name("Stage").value("prod").build())
                    .value(*value)
                    .timestamp(at)
                    .build()
            })
            .collect();
        for chunk in data.chunks(1000) {
            client
                .put_metric_data()
                .namespace("AWS/ApiGateway")
                .set_metric_data(Some(chunk.to_vec()))
                .send()
                .await
                .unwrap();
        }
    }
}

/// A dashboard's body as CloudWatch has it, parsed; `None` when there is none.
pub async fn dashboard(config: &SdkConfig, name: &str) -> Option<serde_json::Value> {
    match aws_sdk_cloudwatch::Client::new(config)
        .get_dashboard()
        .dashboard_name(name)
        .send()
        .await
    {
        Ok(out) => Some(serde_json::from_str(out.dashboard_body().unwrap()).unwrap()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_dashboard_not_found_error()) =>
        {
            None
        }
        Err(err) => panic!("GetDashboard {name}: {err:?}"),
    }
}

/// The names of the alarms starting with `prefix`, sorted.
pub async fn alarm_names(config: &SdkConfig, prefix: &str) -> Vec<String> {
    let out = aws_sdk_cloudwatch::Client::new(config)
        .describe_alarms()
        .alarm_name_prefix(prefix)
        .send()
        .await
        .unwrap();
    let mut names: Vec<String> = out
        .metric_alarms()
        .iter()
        .filter_map(|a| a.alarm_name().map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// A queue the local AWS's default event bus delivers CloudTrail-shaped API Gateway events to,
/// as deploy/events/cloudtrail-to-sqs.yaml sets up in AWS; its URL.
pub async fn events_queue(config: &aws_config::SdkConfig, name: &str) -> String {
    let sqs = aws_sdk_sqs::Client::new(config);
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    let events = aws_sdk_eventbridge::Client::new(config);
    let pattern = serde_json::json!({
        "source": ["aws.apigateway", "aws.cloudwatch"],
        "detail-type": ["AWS API Call via CloudTrail"],
    });
    events
        .put_rule()
        .name(format!("{name}-rule"))
        .event_pattern(pattern.to_string())
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule(format!("{name}-rule"))
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    url
}

/// Puts the CloudTrail record of fixture `name` on the default bus, about REST API `api_id`,
/// as CloudTrail does after a call.
pub async fn put_cloudtrail_event(config: &aws_config::SdkConfig, name: &str, api_id: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cloudtrail")
        .join(format!("{name}.json"));
    let event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let detail = event["detail"].to_string().replace("a1b2c3d4e5", api_id);
    aws_sdk_eventbridge::Client::new(config)
        .put_events()
        .entries(
            aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .source(event["source"].as_str().unwrap())
                .detail_type(event["detail-type"].as_str().unwrap())
                .detail(detail)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// The reconciles an operator's text log (`--log-format=text`) tells of, in order: the
/// timestamp, namespace and name (its span's `guard=namespace/name`) of each `reconciled`
/// line, terminal colours aside.
pub fn reconciles(log: &str) -> Vec<(String, String, String)> {
    let mut plain = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        match c {
            // ESC [ ... m
            '\u{1b}' => {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            }
            c => plain.push(c),
        }
    }
    let field = |line: &str, key: &str| -> Option<String> {
        let value = line.split(&format!("{key}=")).nth(1)?;
        Some(value.split(['}', ' ', ':']).next()?.to_owned())
    };
    plain
        .lines()
        .filter(|line| line.contains(" reconciled "))
        .filter_map(|line| {
            let at = line.split_whitespace().next()?.to_owned();
            let guard = field(line, "guard")?;
            let (namespace, name) = guard.split_once('/')?;
            Some((at, namespace.to_owned(), name.to_owned()))
        })
        .collect()
}

/// Whether the guard's status says Ready=True.
pub fn is_ready(guard: &apigw_guard::core::crd::ApiGatewayGuard) -> bool {
    guard.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

/// Runs this benchmark's own binary again with `args` (one measurement in a process of its
/// own) and returns what the child printed after `RESULT `.
pub fn child_result(args: &[&str]) -> String {
    let out = Command::new(std::env::current_exe().expect("own path"))
        .args(args)
        .output()
        .expect("child runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("RESULT ").map(str::to_owned))
        .unwrap_or_else(|| panic!("{args:?} failed: {}", String::from_utf8_lossy(&out.stderr)))
}

/// Makes an HTTP API (API Gateway v2) with `routes` (route keys) and `stage`; returns its id.
pub async fn seed_http_api(config: &SdkConfig, name: &str, stage: &str, routes: &[&str]) -> String {
    seed_v2_api(config, ProtocolType::Http, name, stage, routes).await
}

/// A WebSocket API `name` with `routes` (`$connect`, `sendMessage`, ...) and one stage.
pub async fn seed_websocket_api(
    config: &SdkConfig,
    name: &str,
    stage: &str,
    routes: &[&str],
) -> String {
    seed_v2_api(config, ProtocolType::Websocket, name, stage, routes).await
}

async fn seed_v2_api(
    config: &SdkConfig,
    protocol: ProtocolType,
    name: &str,
    stage: &str,
    routes: &[&str],
) -> String {
    let v2 = aws_sdk_apigatewayv2::Client::new(config);
    // AWS requires a WebSocket API's route selection expression.
    let selection =
        (protocol == ProtocolType::Websocket).then(|| "$request.body.action".to_owned());
    let api = v2
        .create_api()
        .name(name)
        .protocol_type(protocol)
        .set_route_selection_expression(selection)
        .send()
        .await
        .unwrap();
    let api_id = api.api_id().unwrap().to_owned();
    for route in routes {
        v2.create_route()
            .api_id(&api_id)
            .route_key(*route)
            .send()
            .await
            .unwrap();
    }
    v2.create_stage()
        .api_id(&api_id)
        .stage_name(stage)
        .send()
        .await
        .unwrap();
    api_id
}

/// The value after `--name` on a bench's command line, if given.
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// The number after `--name` on a bench's command line, or `default`.
pub fn number_arg(name: &str, default: usize) -> usize {
    arg(name).map_or(default, |v| v.parse().expect("a number"))
}
