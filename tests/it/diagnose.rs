//! `diagnose` against the local AWS, seeded the way each 5XX class looks: metrics
//! (PutMetricData), execution-log or access-log events (PutLogEvents) and Lambda functions
//! behind the integrations. Each test has a region of its own.

use crate::support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use apigw_guard::aws::CallLog;
use apigw_guard::cli::diagnose::{Diagnosis, Kind, diagnose, render_text};
use apigw_guard::core::crd::ResourceRef;
use apigw_guard::core::model::{ApiKind, Identity};
use aws_config::SdkConfig;
use aws_sdk_apigateway::types::{ConnectionType, Op, PatchOperation};
use support::fault_proxy::{Fault, FaultProxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WINDOW: Duration = Duration::from_secs(300);
const ROLE: &str = "arn:aws:iam::123456789012:role/lambda-exec";

/// Creates the IAM role Lambda functions run as: moto checks it exists. IAM speaks the query
/// protocol, so one form POST does it without an IAM client.
async fn create_lambda_role() {
    let endpoint = support::endpoint().trim_start_matches("http://");
    let body =
        "Action=CreateRole&Version=2010-05-08&RoleName=lambda-exec&AssumeRolePolicyDocument=%7B%7D";
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {endpoint}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/iam/aws4_request, \
         SignedHeaders=host, Signature=x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(endpoint).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200") || answer.contains("EntityAlreadyExists"),
        "{answer}"
    );
}

/// A Lambda function with `timeout` seconds; returns its ARN.
async fn seed_function(config: &SdkConfig, name: &str, timeout: i32) -> String {
    create_lambda_role().await;
    // An empty zip archive: the end-of-central-directory record alone.
    let mut zip = b"PK\x05\x06".to_vec();
    zip.extend([0u8; 18]);
    let out = aws_sdk_lambda::Client::new(config)
        .create_function()
        .function_name(name)
        .runtime(aws_sdk_lambda::types::Runtime::Python312)
        .role(ROLE)
        .handler("app.handler")
        .timeout(timeout)
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(zip))
                .build(),
        )
        .send()
        .await
        .unwrap();
    out.function_arn().unwrap().to_owned()
}

/// A REST API whose GET / invokes `function_arn` through a Lambda proxy integration, deployed
/// to prod; returns its id.
async fn seed_lambda_api(config: &SdkConfig, name: &str, function_arn: &str) -> String {
    let region = config.region().unwrap();
    let uri = format!(
        "arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{function_arn}/invocations"
    );
    support::seed_api_calling(config, name, "prod", Some(&uri)).await
}

/// Sets `*/*` method settings on prod, as the guard would.
async fn set_stage(config: &SdkConfig, api_id: &str, settings: &[(&str, &str)]) {
    let mut request = aws_sdk_apigateway::Client::new(config)
        .update_stage()
        .rest_api_id(api_id)
        .stage_name("prod");
    for (path, value) in settings {
        request = request.patch_operations(
            PatchOperation::builder()
                .op(Op::Replace)
                .path(*path)
                .value(*value)
                .build(),
        );
    }
    request.send().await.unwrap();
}

/// Writes `messages` to the stage's execution log group, a minute ago.
async fn put_execution_logs(config: &SdkConfig, api_id: &str, messages: &[&str]) {
    let group = format!("API-Gateway-Execution-Logs_{api_id}/prod");
    put_log_events(config, &group, messages).await;
}

/// Makes the log group `group` and writes `messages` to it, a minute ago.
async fn put_log_events(config: &SdkConfig, group: &str, messages: &[&str]) {
    let logs = aws_sdk_cloudwatchlogs::Client::new(config);
    logs.create_log_group()
        .log_group_name(group)
        .send()
        .await
        .unwrap();
    logs.create_log_stream()
        .log_group_name(group)
        .log_stream_name("stream")
        .send()
        .await
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let events = messages.iter().enumerate().map(|(i, message)| {
        aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
            .timestamp(now - 60_000 + i as i64)
            .message(*message)
            .build()
            .unwrap()
    });
    logs.put_log_events()
        .log_group_name(group)
        .log_stream_name("stream")
        .set_log_events(Some(events.collect()))
        .send()
        .await
        .unwrap();
}

async fn run(config: &SdkConfig, api: &str) -> Diagnosis {
    run_probing(config, api, false).await
}

async fn run_probing(config: &SdkConfig, api: &str, probe: bool) -> Diagnosis {
    run_with(config, api, WINDOW, probe).await
}

async fn run_with(config: &SdkConfig, api: &str, window: Duration, probe: bool) -> Diagnosis {
    run_kind(config, ApiKind::Rest, api, window, probe).await
}

async fn run_kind(
    config: &SdkConfig,
    kind: ApiKind,
    api: &str,
    window: Duration,
    probe: bool,
) -> Diagnosis {
    let clients = support::unlimited_clients(config);
    let aws = clients
        .diagnostics(&Identity::Own, None, &CallLog::default())
        .await;
    let region = config.region().unwrap().to_string();
    let by = ResourceRef {
        id: None,
        name: Some(api.to_owned()),
    };
    diagnose(&aws, &region, kind, &by, "prod", window, probe)
        .await
        .unwrap()
}

fn texts(d: &Diagnosis, kind: Kind) -> Vec<String> {
    d.findings
        .iter()
        .filter(|f| f.kind == kind)
        .map(|f| format!("step {}: {}", f.step, f.text))
        .collect()
}

#[tokio::test]
async fn a_healthy_api_gets_a_clean_report() {
    let config = support::config("us-east-2").await;
    let api_id = support::seed_api(&config, "healthy-api", "prod").await;
    set_stage(&config, &api_id, &[("/*/*/logging/loglevel", "ERROR")]).await;
    put_execution_logs(&config, &api_id, &["Method completed with status: 200"]).await;
    support::put_stage_metrics(
        &config,
        "healthy-api",
        &[
            ("Count", &[1.0; 100]),
            ("5XXError", &[0.0]),
            ("Latency", &[120.0; 100]),
            ("IntegrationLatency", &[80.0; 100]),
        ],
    )
    .await;
    let d = run(&config, "healthy-api").await;
    assert_eq!(d.likely, None, "{d:#?}");
    assert!(d.resolution.is_empty());
    assert_eq!(texts(&d, Kind::Problem), Vec::<String>::new());
    assert_eq!(texts(&d, Kind::Unavailable), Vec::<String>::new());
    let figures = d.metrics.as_ref().unwrap();
    assert_eq!(figures.requests, Some(100.0));
    assert_eq!(figures.five_xx_share_percent, Some(0.0));
    assert_eq!(d.execution_logging.as_deref(), Some("ERROR"));
    assert!(d.log_matches.iter().all(|m| m.matches.count == 0));
    assert_eq!(d.integrations.len(), 1);
    assert_eq!(d.integrations[0].kind, "MOCK");
    let text = render_text(&d);
    assert!(
        text.contains("No 5XX errors: nothing to resolve."),
        "{text}"
    );
}

#[tokio::test]
async fn a_backend_near_the_integration_timeout_is_a_504() {
    let config = support::config("us-west-1").await;
    let function = seed_function(&config, "slow-orders", 60).await;
    let api_id = seed_lambda_api(&config, "slow-api", &function).await;
    set_stage(&config, &api_id, &[("/*/*/logging/loglevel", "ERROR")]).await;
    put_execution_logs(
        &config,
        &api_id,
        &[
            "Execution failed due to a timeout error",
            "Integration timeout",
        ],
    )
    .await;
    support::put_stage_metrics(
        &config,
        "slow-api",
        &[
            ("Count", &[1.0; 50]),
            ("5XXError", &[5.0]),
            ("IntegrationLatency", &[28_900.0; 50]),
        ],
    )
    .await;
    let d = run(&config, "slow-api").await;
    assert_eq!(d.likely.as_deref(), Some("504 Gateway Timeout"), "{d:#?}");
    assert_eq!(d.lambda_functions.len(), 1);
    assert_eq!(d.lambda_functions[0].timeout_seconds, Some(60));
    assert!(
        texts(&d, Kind::Problem)
            .iter()
            .any(|t| t.contains("slow-orders may run 60 s, past API Gateway's 29 s")),
        "{:?}",
        d.findings
    );
    assert!(
        texts(&d, Kind::Problem)
            .iter()
            .any(|t| t.starts_with("step 1: 5 5XX errors of 50 requests (10.0 %)")),
        "{:?}",
        d.findings
    );
    assert!(
        d.resolution.contains(
            &"aws lambda update-function-configuration --region us-west-1 --function-name slow-orders --timeout 28"
                .to_owned()
        ),
        "{:?}",
        d.resolution
    );
}

#[tokio::test]
async fn traffic_at_the_stage_throttle_is_a_503() {
    let config = support::config("eu-west-2").await;
    let api_id = support::seed_api(&config, "busy-api", "prod").await;
    let plan = support::seed_usage_plan(&config, "busy-plan", &api_id, "prod").await;
    set_stage(
        &config,
        &api_id,
        &[
            ("/*/*/logging/loglevel", "ERROR"),
            ("/*/*/throttling/rateLimit", "1"),
            ("/*/*/throttling/burstLimit", "2"),
        ],
    )
    .await;
    put_execution_logs(&config, &api_id, &["Method completed with status: 429"]).await;
    // 600 requests in 300 s: 2 a second against a limit of 1.
    support::put_stage_metrics(
        &config,
        "busy-api",
        &[
            ("Count", &[1.0; 600]),
            ("5XXError", &[30.0]),
            ("IntegrationLatency", &[20.0; 10]),
        ],
    )
    .await;
    let d = run(&config, "busy-api").await;
    assert_eq!(
        d.likely.as_deref(),
        Some("503 Service Unavailable (throttling)"),
        "{d:#?}"
    );
    assert_eq!(d.stage_throttle.as_ref().unwrap().rate_limit, Some(1.0));
    assert_eq!(d.usage_plans.len(), 1);
    assert!(
        d.resolution.contains(&format!(
            "aws apigateway get-usage-plan --region eu-west-2 --usage-plan-id {plan}"
        )),
        "{:?}",
        d.resolution
    );
    assert!(
        d.resolution
            .iter()
            .any(|r| r.contains("--service-code apigateway --quota-code L-A93B7C5F")),
        "{:?}",
        d.resolution
    );
}

#[tokio::test]
async fn a_malformed_lambda_response_is_a_502() {
    let config = support::config("eu-west-3").await;
    let function = seed_function(&config, "broken-orders", 10).await;
    let api_id = seed_lambda_api(&config, "broken-api", &function).await;
    set_stage(&config, &api_id, &[("/*/*/logging/loglevel", "ERROR")]).await;
    put_execution_logs(
        &config,
        &api_id,
        &[
            "Execution failed due to configuration error: Malformed Lambda proxy response",
            "Method completed with status: 502",
        ],
    )
    .await;
    support::put_stage_metrics(
        &config,
        "broken-api",
        &[
            ("Count", &[1.0; 40]),
            ("5XXError", &[8.0]),
            ("IntegrationLatency", &[35.0; 40]),
        ],
    )
    .await;
    let d = run(&config, "broken-api").await;
    assert_eq!(d.likely.as_deref(), Some("502 Bad Gateway"), "{d:#?}");
    let failed = d
        .log_matches
        .iter()
        .find(|m| m.pattern == "Execution failed")
        .unwrap();
    assert_eq!(failed.matches.count, 1);
    assert!(failed.matches.latest[0].contains("Malformed Lambda proxy response"));
    assert_eq!(d.lambda_functions[0].state.as_deref(), Some("Active"));
    assert!(
        d.resolution
            .iter()
            .any(|r| r
                .starts_with("aws lambda invoke --region eu-west-3 --function-name broken-orders")),
        "{:?}",
        d.resolution
    );
}

#[tokio::test]
async fn missing_logs_and_denied_reads_are_findings_not_failures() {
    let region = "ap-south-1";
    let direct = support::config(region).await;
    support::seed_api(&direct, "quiet-api", "prod").await;
    let proxy = FaultProxy::start(support::endpoint()).await;
    proxy.inject("GetResources", "", Fault::Deny, 1);
    let config = support::config_at(
        region,
        &proxy.endpoint,
        aws_config::retry::RetryConfig::disabled(),
    )
    .await;
    let d = run(&config, "quiet-api").await;
    let problems = texts(&d, Kind::Problem);
    assert!(
        problems
            .iter()
            .any(|t| t.contains("execution logging is off")),
        "{problems:?}"
    );
    let unavailable = texts(&d, Kind::Unavailable);
    assert!(
        unavailable
            .iter()
            .any(|t| t.contains("log group API-Gateway-Execution-Logs_")
                && t.contains("does not exist")),
        "{unavailable:?}"
    );
    assert!(
        unavailable
            .iter()
            .any(|t| t.contains("GetResources failed: AccessDeniedException")
                && t.contains("apigateway:GET")),
        "{unavailable:?}"
    );
    assert_eq!(d.likely, None);
    assert!(d.metrics.is_some(), "the other steps still ran");
}

/// A backend on 127.0.0.1 that answers every request with `status` (or, with `None`, reads
/// it and never answers); returns its base URL and how many requests it got.
async fn backend(status: Option<u16>) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut head = [0u8; 1024];
            let _ = stream.read(&mut head).await.unwrap();
            assert!(
                head.starts_with(b"HEAD "),
                "{}",
                String::from_utf8_lossy(&head)
            );
            counted.fetch_add(1, Ordering::SeqCst);
            match status {
                Some(status) => {
                    let answer = format!("HTTP/1.1 {status} Whatever\r\ncontent-length: 0\r\n\r\n");
                    stream.write_all(answer.as_bytes()).await.unwrap();
                }
                None => held.push(stream),
            }
        }
    });
    (url, requests)
}

/// A REST API whose root methods call `backends` ((verb, type, uri, timeout ms, through a VPC
/// link)), on prod.
async fn seed_http_api(
    config: &SdkConfig,
    name: &str,
    backends: &[(&str, &str, &str, i32, bool)],
) -> String {
    let apigw = aws_sdk_apigateway::Client::new(config);
    let (api_id, root) = support::create_api(&apigw, name).await;
    for (verb, kind, uri, timeout, vpc_link) in backends {
        apigw
            .put_method()
            .rest_api_id(&api_id)
            .resource_id(&root)
            .http_method(*verb)
            .authorization_type("NONE")
            .send()
            .await
            .unwrap();
        apigw
            .put_integration()
            .rest_api_id(&api_id)
            .resource_id(&root)
            .http_method(*verb)
            .r#type((*kind).into())
            .integration_http_method("GET")
            .uri(*uri)
            .timeout_in_millis(*timeout)
            .set_connection_type(vpc_link.then_some(ConnectionType::VpcLink))
            .set_connection_id(vpc_link.then(|| "nlb-link".to_owned()))
            .send()
            .await
            .unwrap();
    }
    apigw
        .create_deployment()
        .rest_api_id(&api_id)
        .stage_name("prod")
        .send()
        .await
        .unwrap();
    api_id
}

#[tokio::test]
async fn http_backends_are_probed_with_probe_only() {
    let config = support::config("eu-north-1").await;
    let (failing, failing_requests) = backend(Some(503)).await;
    let (hanging, hanging_requests) = backend(None).await;
    // A port nothing listens on: bound, then let go.
    let refused = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let api_id = seed_http_api(
        &config,
        "http-api",
        &[
            (
                "GET",
                "HTTP_PROXY",
                &format!("{failing}/health"),
                29_000,
                false,
            ),
            (
                "POST",
                "HTTP",
                &format!("{hanging}/orders/{{id}}"),
                300,
                false,
            ),
            ("PUT", "HTTP_PROXY", &format!("{refused}/"), 29_000, false),
            (
                "DELETE",
                "HTTP_PROXY",
                "https://${stageVariables.host}/",
                29_000,
                false,
            ),
            (
                "PATCH",
                "HTTP_PROXY",
                "http://internal-nlb.local/orders",
                29_000,
                true,
            ),
        ],
    )
    .await;
    set_stage(&config, &api_id, &[("/*/*/logging/loglevel", "ERROR")]).await;
    support::put_stage_metrics(
        &config,
        "http-api",
        &[
            ("Count", &[1.0; 20]),
            ("5XXError", &[1.0; 6]),
            ("Latency", &[300.0; 20]),
            ("IntegrationLatency", &[250.0; 20]),
        ],
    )
    .await;

    // Without --probe no backend hears from diagnose.
    let quiet = run(&config, "http-api").await;
    assert!(quiet.probes.is_empty());
    assert_eq!(failing_requests.load(Ordering::SeqCst), 0);
    assert_eq!(hanging_requests.load(Ordering::SeqCst), 0);
    let info = texts(&quiet, Kind::Info);
    assert_eq!(
        info.iter()
            .filter(|t| t.contains("not probed (--probe sends it a HEAD request)"))
            .count(),
        3,
        "{info:#?}"
    );
    // moto drops connectionId, so the link is not named here; AWS returns it.
    assert!(
        info.iter().any(|t| t.contains(
            "PATCH / calls http://internal-nlb.local/orders through a VPC link: not probed, it is \
             only reachable inside its VPC"
        )),
        "{info:#?}"
    );
    assert!(
        info.iter()
            .any(|t| t.contains("its host is only known at request time")),
        "{info:#?}"
    );

    let d = run_probing(&config, "http-api", true).await;
    assert_eq!(failing_requests.load(Ordering::SeqCst), 1);
    assert_eq!(hanging_requests.load(Ordering::SeqCst), 1);
    let by_url = |url: &str| {
        d.probes
            .iter()
            .find(|p| p.url == url)
            .unwrap_or_else(|| panic!("{url}: {:#?}", d.probes))
    };
    assert_eq!(d.probes.len(), 3, "{:#?}", d.probes);
    assert_eq!(by_url(&format!("{failing}/health")).status, Some(503));
    // The templated path is cut at its parameter; the probe waits as long as API Gateway.
    let slow = by_url(&format!("{hanging}/orders/"));
    assert!(slow.timed_out(), "{slow:#?}");
    assert_eq!(slow.timeout_ms, 300);
    let down = by_url(&format!("{refused}/"));
    assert_eq!(down.status, None);
    assert!(!down.timed_out());
    assert!(
        down.error
            .as_deref()
            .unwrap()
            .to_lowercase()
            .contains("refused"),
        "{down:#?}"
    );

    let problems = texts(&d, Kind::Problem);
    assert!(
        problems.contains(&format!(
            "step 3: HEAD {failing}/health answered 503 in {} ms",
            by_url(&format!("{failing}/health")).elapsed_ms
        )),
        "{problems:#?}"
    );
    assert!(
        problems.iter().any(|t| t.contains(&format!(
            "HEAD {hanging}/orders/ got no answer within the 300 ms integration timeout"
        ))),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|t| t.starts_with(&format!("step 3: HEAD {refused}/ failed after"))),
        "{problems:#?}"
    );
    // A backend that does not answer within the integration timeout is what a 504 is.
    assert_eq!(d.likely.as_deref(), Some("504 Gateway Timeout"), "{d:#?}");
    let text = render_text(&d);
    assert!(
        text.contains(&format!("  HEAD {failing}/health: 503 in ")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "  HEAD {hanging}/orders/: no answer within 300 ms, the integration timeout"
        )),
        "{text}"
    );
}

#[tokio::test]
async fn a_short_throttling_episode_inside_the_hour_is_a_503() {
    let config = support::config("sa-east-1").await;
    let api_id = support::seed_api(&config, "spiky-api", "prod").await;
    set_stage(
        &config,
        &api_id,
        &[
            ("/*/*/logging/loglevel", "ERROR"),
            ("/*/*/throttling/rateLimit", "1"),
            ("/*/*/throttling/burstLimit", "2"),
        ],
    )
    .await;
    // One minute of 2 requests/s against a limit of 1; over the hour that is 0.03/s.
    support::put_stage_metrics(
        &config,
        "spiky-api",
        &[
            ("Count", &[1.0; 120]),
            ("5XXError", &[10.0]),
            ("IntegrationLatency", &[20.0; 10]),
        ],
    )
    .await;
    let d = run_with(&config, "spiky-api", Duration::from_secs(3600), false).await;
    assert_eq!(
        d.likely.as_deref(),
        Some("503 Service Unavailable (throttling)"),
        "{d:#?}"
    );
    let why = d.decided_by.as_deref().unwrap();
    assert!(
        why.starts_with("the busiest minute: 2.0 requests/s against a limit of 1"),
        "{why}"
    );
    assert!(
        render_text(&d).contains("worst minute: 2.0 requests/s"),
        "{}",
        render_text(&d)
    );
}

#[tokio::test]
async fn the_statuses_the_execution_log_records_decide_over_the_metrics() {
    let config = support::config("ap-south-1").await;
    let api_id = support::seed_api(&config, "logged-api", "prod").await;
    set_stage(&config, &api_id, &[("/*/*/logging/loglevel", "INFO")]).await;
    put_execution_logs(
        &config,
        &api_id,
        &[
            "Endpoint request timed out",
            "Method completed with status: 504",
            "Method completed with status: 504",
            "Method completed with status: 504",
            "Method completed with status: 502",
            "Method completed with status: 200",
        ],
    )
    .await;
    // Metrics alone look like a fast, failing backend: nothing near the timeout.
    support::put_stage_metrics(
        &config,
        "logged-api",
        &[
            ("Count", &[1.0; 50]),
            ("5XXError", &[4.0]),
            ("IntegrationLatency", &[40.0; 50]),
        ],
    )
    .await;
    let d = run(&config, "logged-api").await;
    assert_eq!(
        d.completed_5xx,
        [(502, 1), (504, 3)].into_iter().collect(),
        "{d:#?}"
    );
    assert_eq!(d.likely.as_deref(), Some("504 Gateway Timeout"));
    assert_eq!(
        d.decided_by.as_deref(),
        Some(
            "the execution log: 3 of 4 5XX responses were 504 (\"Method completed with status:\")"
        )
    );
    assert!(
        render_text(&d).contains("requests that ended in 5XX: 502 x1, 504 x3"),
        "{}",
        render_text(&d)
    );
}

/// An HTTP API with a prod stage; with `format`, the stage's access logs go to a log group
/// of that format, as `accessLogging` sets them. Returns its id and the group.
async fn seed_http_api_logging(
    config: &SdkConfig,
    name: &str,
    format: Option<&str>,
) -> (String, String) {
    use aws_sdk_apigatewayv2::types::{AccessLogSettings, ProtocolType};
    let v2 = aws_sdk_apigatewayv2::Client::new(config);
    let api = v2
        .create_api()
        .name(name)
        .protocol_type(ProtocolType::Http)
        .send()
        .await
        .unwrap();
    let api_id = api.api_id().unwrap().to_owned();
    let group = format!("/aws/apigateway/apigw-guard/{api_id}/prod");
    let region = config.region().unwrap();
    v2.create_stage()
        .api_id(&api_id)
        .stage_name("prod")
        .set_access_log_settings(format.map(|format| {
            AccessLogSettings::builder()
                .destination_arn(format!(
                    "arn:aws:logs:{region}:123456789012:log-group:{group}"
                ))
                .format(format)
                .build()
        }))
        .send()
        .await
        .unwrap();
    (api_id, group)
}

/// One access-log line in the guard's format.
fn access_line(status: &str, integration_status: &str, latency: &str, error: &str) -> String {
    serde_json::json!({
        "requestId": "r1", "requestTime": "-", "httpMethod": "POST", "routeKey": "POST /orders",
        "status": status, "responseLatency": latency, "integrationStatus": integration_status,
        "integrationLatency": latency, "integrationErrorMessage": error, "errorMessage": "-",
    })
    .to_string()
}

#[tokio::test]
async fn an_http_api_timeout_is_read_from_its_access_log() {
    let config = support::config("ca-central-1").await;
    let format = ApiKind::Http.profile().access_log_format();
    let (api_id, group) = seed_http_api_logging(&config, "slow-http-api", Some(&format)).await;
    let lines = [
        access_line("503", "-", "29990", "-"),
        access_line("503", "-", "30001", "-"),
        access_line("503", "-", "-", "-"),
        // The backend's own 502, passed through: its problem, not API Gateway's answer.
        access_line("502", "502", "45", "-"),
        access_line("200", "200", "35", "-"),
    ];
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    put_log_events(&config, &group, &lines).await;
    support::put_api_metrics(
        &config,
        ("ApiId", &api_id),
        &[
            ("Count", &[1.0; 40]),
            ("5xx", &[4.0]),
            ("IntegrationLatency", &[300.0; 40]),
        ],
    )
    .await;
    let d = run_kind(&config, ApiKind::Http, "slow-http-api", WINDOW, false).await;
    assert_eq!(d.api_kind, ApiKind::Http);
    assert_eq!(d.api_id, api_id);
    assert_eq!(
        d.metrics.as_ref().unwrap().five_xx_errors,
        Some(4.0),
        "{d:#?}"
    );
    assert_eq!(d.log_group.as_deref(), Some(group.as_str()));
    assert_eq!(d.execution_logging, None);
    assert_eq!(d.completed_5xx, [(502, 1), (503, 3)].into_iter().collect());
    let read = d.access_log.as_ref().unwrap();
    assert_eq!(
        (read.lines, read.from_backend, read.near_timeout),
        (4, 1, 2)
    );
    assert_eq!(read.slowest_integration_ms, Some(30_001.0));
    assert_eq!(d.likely.as_deref(), Some("504 Gateway Timeout"), "{d:#?}");
    assert_eq!(
        d.decided_by.as_deref(),
        Some(
            "the access log: 3 of 3 5XX responses API Gateway answered itself were 503 (an \
             HTTP API answers 503 when its integration times out)"
        )
    );
    assert!(
        d.resolution[0].starts_with("Make the backend answer within 30 s"),
        "{:?}",
        d.resolution
    );
    // What HTTP APIs do not have is said, not failed on.
    assert!(d.usage_plans.is_empty());
    let info = texts(&d, Kind::Info);
    for says in [
        "step 2: HTTP APIs have no execution logs or X-Ray tracing",
        "step 4: usage plans: not checked, HTTP APIs have none",
    ] {
        assert!(
            info.iter().any(|t| t.starts_with(says)),
            "{says}: {info:#?}"
        );
    }
    let problems = texts(&d, Kind::Problem);
    assert!(
        problems.contains(
            &"step 3: 1 of 4 5XX responses are the backend's own status, passed \
             through: look at the backend"
                .to_owned()
        ),
        "{problems:#?}"
    );
    let text = render_text(&d);
    for says in [
        &format!("Diagnosis of HTTP API slow-http-api ({api_id}) stage prod"),
        "requests 40, 5xx 4 (10.0 %)",
        &format!("Step 2: access logs ({group})"),
        "requests that ended in 5XX: 502 x1, 503 x3",
        "of those, the backend's own status: 1; near the 30 s integration timeout: 2",
    ] {
        assert!(text.contains(says), "{says}:\n{text}");
    }
    assert!(!text.contains("CloudWatch Logs role"), "{text}");
}

#[tokio::test]
async fn an_http_api_is_read_in_its_own_format_or_told_to_log() {
    let config = support::config("ap-northeast-1").await;
    // A format of the team's own: other keys, the status a number.
    let (api_id, group) = seed_http_api_logging(
        &config,
        "own-format-api",
        Some(r#"{"id":"$context.requestId","code":$context.status,"why":"$context.integrationErrorMessage"}"#),
    )
    .await;
    let denied = "The IAM role configured on the integration or API Gateway doesn't have \
                  permissions to call the integration. Check the permissions and try again.";
    let line = serde_json::json!({"id": "r", "code": 500, "why": denied}).to_string();
    put_log_events(&config, &group, &[&line, &line]).await;
    support::put_api_metrics(
        &config,
        ("ApiId", &api_id),
        &[("Count", &[1.0; 10]), ("5xx", &[2.0])],
    )
    .await;
    let d = run_kind(&config, ApiKind::Http, "own-format-api", WINDOW, false).await;
    assert_eq!(
        d.likely.as_deref(),
        Some("500 Internal Server Error"),
        "{d:#?}"
    );
    let read = d.access_log.as_ref().unwrap();
    assert_eq!(read.integration_errors.len(), 1);
    assert_eq!(read.integration_errors[0].count, 2);
    assert!(
        texts(&d, Kind::Problem).contains(&format!(
            "step 2: 2 5XX responses with the integration error \"{denied}\""
        )),
        "{:#?}",
        d.findings
    );

    // A stage that writes no access logs leaves no trace: the report says what to set.
    seed_http_api_logging(&config, "unlogged-api", None).await;
    let quiet = run_kind(&config, ApiKind::Http, "unlogged-api", WINDOW, false).await;
    assert_eq!(quiet.log_group, None);
    assert!(
        texts(&quiet, Kind::Problem)
            .iter()
            .any(|t| t.contains("the stage writes no access logs")
                && t.contains("spec.accessLogging")),
        "{:#?}",
        quiet.findings
    );
    assert!(render_text(&quiet).contains("Step 2: access logs (none)"));
}

#[tokio::test]
async fn an_http_apis_routes_are_read_with_their_integrations_and_backends() {
    use aws_sdk_apigatewayv2::types::{ConnectionType, IntegrationType};
    let config = support::config("eu-central-1").await;
    let function = seed_function(&config, "pets-fn", 40).await;
    let (url, requests) = backend(Some(200)).await;
    let (api_id, _) = seed_http_api_logging(
        &config,
        "routed-http-api",
        Some(&ApiKind::Http.profile().access_log_format()),
    )
    .await;
    let v2 = aws_sdk_apigatewayv2::Client::new(&config);
    let integration = |kind: IntegrationType, uri: &str, timeout: Option<i32>| {
        v2.create_integration()
            .api_id(&api_id)
            .integration_type(kind)
            .integration_uri(uri)
            .set_timeout_in_millis(timeout)
            .send()
    };
    let lambda = integration(IntegrationType::AwsProxy, &function, None)
        .await
        .unwrap();
    let web = integration(
        IntegrationType::HttpProxy,
        &format!("{url}/pets"),
        Some(5_000),
    )
    .await
    .unwrap();
    let private = v2
        .create_integration()
        .api_id(&api_id)
        .integration_type(IntegrationType::HttpProxy)
        .integration_uri(
            "arn:aws:elasticloadbalancing:eu-central-1:123456789012:listener/app/x/1/2",
        )
        .connection_type(ConnectionType::VpcLink)
        .connection_id("vl-1")
        .send()
        .await
        .unwrap();
    for (key, target) in [
        ("GET /pets", Some(lambda.integration_id().unwrap())),
        ("$default", Some(web.integration_id().unwrap())),
        ("POST /orders", Some(private.integration_id().unwrap())),
        ("DELETE /pets", None),
    ] {
        v2.create_route()
            .api_id(&api_id)
            .route_key(key)
            .set_target(target.map(|id| format!("integrations/{id}")))
            .send()
            .await
            .unwrap();
    }

    let d = run_kind(&config, ApiKind::Http, "routed-http-api", WINDOW, false).await;
    let read: Vec<_> = d
        .integrations
        .iter()
        .map(|i| {
            (
                i.method.as_str(),
                i.path.as_str(),
                i.kind.as_str(),
                i.uri.as_deref().unwrap_or_default(),
                i.timeout_ms,
                i.vpc_link.as_deref(),
            )
        })
        .collect();
    let web_uri = format!("{url}/pets");
    assert_eq!(
        read,
        [
            (
                "ANY",
                "$default",
                "HTTP_PROXY",
                web_uri.as_str(),
                Some(5_000),
                None
            ),
            (
                "POST",
                "/orders",
                "HTTP_PROXY",
                "arn:aws:elasticloadbalancing:eu-central-1:123456789012:listener/app/x/1/2",
                Some(30_000),
                Some("vl-1"),
            ),
            (
                "GET",
                "/pets",
                "AWS_PROXY",
                function.as_str(),
                Some(30_000),
                None
            ),
        ],
        "{d:#?}"
    );
    // The Lambda behind the proxy route is read from its plain function ARN.
    assert_eq!(d.lambda_functions.len(), 1, "{d:#?}");
    assert_eq!(d.lambda_functions[0].name, function);
    assert_eq!(d.lambda_functions[0].timeout_seconds, Some(40));
    assert_eq!(d.lambda_functions[0].state.as_deref(), Some("Active"));
    assert!(
        texts(&d, Kind::Unavailable)
            .iter()
            .all(|t| !t.contains("integrations")),
        "{:#?}",
        d.findings
    );
    let problems = texts(&d, Kind::Problem);
    assert!(
        problems
            .iter()
            .any(|t| t.starts_with("step 3: Lambda function")
                && t.contains("may run 40 s, past API Gateway's 30 s integration timeout")),
        "{problems:#?}"
    );
    let info = texts(&d, Kind::Info);
    for says in [
        format!("step 3: ANY $default calls {web_uri}: not probed (--probe sends it a HEAD request)"),
        "step 3: POST /orders calls arn:aws:elasticloadbalancing:eu-central-1:123456789012:listener/app/x/1/2 through VPC link vl-1: not probed".to_owned(),
    ] {
        assert!(info.iter().any(|t| t.starts_with(&says)), "{says}: {info:#?}");
    }
    assert_eq!(
        requests.load(Ordering::SeqCst),
        0,
        "nothing sent without --probe"
    );
    let text = render_text(&d);
    for says in [
        "Lambda pets-fn: state Active, timeout 40 s".to_owned(),
        format!("ANY $default: HTTP_PROXY {web_uri} (timeout 5000 ms)"),
        format!("GET /pets: AWS_PROXY {function} (timeout 30000 ms)"),
    ] {
        assert!(text.contains(&says), "{says}:\n{text}");
    }

    // With --probe, the HTTP backend gets its HEAD, waited on for the route's 5 s.
    let probed = run_kind(&config, ApiKind::Http, "routed-http-api", WINDOW, true).await;
    assert_eq!(probed.probes.len(), 1, "{probed:#?}");
    assert_eq!(probed.probes[0].status, Some(200));
    assert_eq!(probed.probes[0].timeout_ms, 5_000);
    assert_eq!(requests.load(Ordering::SeqCst), 1);
}

/// A window reaching back past what CloudWatch keeps per minute is read at what it keeps for
/// that age (5 minutes to 63 days, hours beyond), and the report says which: per-minute reads
/// there would come back empty.
#[tokio::test]
async fn a_window_older_than_cloudwatchs_minutes_is_read_at_the_period_it_keeps() {
    let config = support::config("us-east-2").await;
    support::seed_api(&config, "long-ago-api", "prod").await;
    support::put_stage_metrics(
        &config,
        "long-ago-api",
        &[("Count", &[1.0; 30]), ("IntegrationLatency", &[80.0; 30])],
    )
    .await;
    for (hours, period, unit) in [
        (1, 60, "minute"),
        (480, 300, "5 minutes"),
        (2000, 3600, "hour"),
    ] {
        let d = run_with(
            &config,
            "long-ago-api",
            Duration::from_secs(hours * 3600),
            false,
        )
        .await;
        let peaks = d.peaks.clone().unwrap();
        assert_eq!(
            (peaks.period, peaks.unit().as_str()),
            (period, unit),
            "{hours} h"
        );
        assert_eq!(
            d.window_seconds % period,
            0,
            "{hours} h: {}",
            d.window_seconds
        );
        assert!(i64::from(d.window_seconds) >= hours as i64 * 3600);
        assert_eq!(
            d.metrics.as_ref().unwrap().requests,
            Some(30.0),
            "{hours} h"
        );
        let text = render_text(&d);
        assert!(text.contains(&format!("worst {unit}:")), "{text}");
        assert_eq!(
            text.contains("CloudWatch keeps minutes for 15 days"),
            period > 60,
            "{text}"
        );
    }
}

/// `diagnose --kind websocket`: the kind's metrics (its errors are IntegrationError plus
/// ExecutionError, of its messages; it has no Latency) and its access log, and what it lacks
/// said without denying what it has (execution logs).
#[tokio::test]
async fn a_websocket_api_is_diagnosed_on_its_own_metrics_and_access_log() {
    use aws_sdk_apigatewayv2::types::{AccessLogSettings, ProtocolType};
    let config = support::config("ca-central-1").await;
    let v2 = aws_sdk_apigatewayv2::Client::new(&config);
    let api_id = v2
        .create_api()
        .name("live-ws-api")
        .protocol_type(ProtocolType::Websocket)
        .route_selection_expression("$request.body.action")
        .send()
        .await
        .unwrap()
        .api_id()
        .unwrap()
        .to_owned();
    let group = format!("/aws/apigateway/apigw-guard/{api_id}/prod");
    v2.create_stage()
        .api_id(&api_id)
        .stage_name("prod")
        .access_log_settings(
            AccessLogSettings::builder()
                .destination_arn(format!(
                    "arn:aws:logs:ca-central-1:123456789012:log-group:{group}"
                ))
                .format(ApiKind::WebSocket.profile().access_log_format())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let line = |status: &str, integration: &str, latency: &str| {
        serde_json::json!({
            "requestId": "r1", "requestTime": "-", "eventType": "MESSAGE",
            "routeKey": "sendMessage", "connectionId": "c1", "status": status,
            "integrationStatus": integration, "integrationLatency": latency,
            "integrationError": "-", "errorMessage": "-",
        })
        .to_string()
    };
    let lines = [
        line("504", "-", "29000"),
        line("504", "-", "29001"),
        line("200", "200", "40"),
    ];
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    put_log_events(&config, &group, &lines).await;
    support::put_api_metrics(
        &config,
        ("ApiId", &api_id),
        &[
            ("MessageCount", &[1.0; 30]),
            ("IntegrationError", &[2.0]),
            ("ExecutionError", &[1.0]),
            ("IntegrationLatency", &[300.0; 30]),
        ],
    )
    .await;
    let d = run_kind(&config, ApiKind::WebSocket, "live-ws-api", WINDOW, false).await;
    assert_eq!(
        (d.api_kind, d.api_id.as_str()),
        (ApiKind::WebSocket, api_id.as_str())
    );
    let metrics = d.metrics.as_ref().unwrap();
    assert_eq!(
        (
            metrics.requests,
            metrics.five_xx_errors,
            metrics.latency_p99_ms
        ),
        (Some(30.0), Some(3.0), None),
        "{d:#?}"
    );
    assert_eq!(d.access_log.as_ref().unwrap().near_timeout, 2, "{d:#?}");
    let info = texts(&d, Kind::Info);
    assert!(
        info.iter().any(|t| t.starts_with(
            "step 2: WebSocket APIs have no X-Ray tracing; the access log is what is read here"
        )),
        "{info:#?}"
    );
    let text = render_text(&d);
    assert!(
        text.contains("messages 30, IntegrationError + ExecutionError 3"),
        "{text}"
    );
    assert!(!text.contains("p99 Latency"), "{text}");
}
