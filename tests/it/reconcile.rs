//! Reconciling guards against the local AWS, then reading AWS back to check the outcome.

use crate::support;

use std::collections::HashMap;

use apigw_guard::aws::{Call, CallLog, CloudWatch, SdkApiGateway, SdkCloudWatch};
use apigw_guard::core::crd::{ApiGatewayGuardSpec, ApiGatewayGuardStatus};
use apigw_guard::core::model::Identity;
use apigw_guard::core::model::{GuardId, OWNER_TAG};
use apigw_guard::core::report::Report;
use apigw_guard::core::status;
use apigw_guard::reconcile::Mode;
use apigw_guard::reconcile::reconcile;
use aws_config::SdkConfig;
use support::{REGION, REGION_WITHOUT_LOG_ROLE};

/// One guard against the local AWS, with its own API, usage plan and alarm names.
struct Fixture {
    config: SdkConfig,
    calls: CallLog,
    apigateway: SdkApiGateway,
    cloudwatch: SdkCloudWatch,
    guard: GuardId,
    api_name: String,
    api_id: String,
    plan_id: String,
}

impl Fixture {
    /// Seeds a REST API `{test}-api` with stage prod and a usage plan `{test}-plan` serving it.
    async fn new(test: &str, region: &str) -> Self {
        let config = support::config(region).await;
        let api_name = format!("{test}-api");
        let api_id = support::seed_api(&config, &api_name, "prod").await;
        let plan_id =
            support::seed_usage_plan(&config, &format!("{test}-plan"), &api_id, "prod").await;
        let calls = CallLog::default();
        let (apigateway, cloudwatch) = support::unlimited_clients(&config)
            .per_guard_clients(&Identity::Own, None, &calls)
            .await;
        Self {
            config,
            calls,
            apigateway,
            cloudwatch,
            guard: GuardId {
                namespace: "tests".to_owned(),
                name: test.to_owned(),
            },
            api_name,
            api_id,
            plan_id,
        }
    }

    /// The full guard of the design, for this fixture's API and plan.
    fn spec(&self) -> ApiGatewayGuardSpec {
        serde_yaml::from_str(&format!(
            "
restApi: {{name: {api}}}
stage: prod
tracing: {{enabled: true}}
executionLogging: {{level: ERROR, dataTrace: false, detailedMetrics: true}}
throttle: {{usagePlan: {{name: {test}-plan}}, rateLimit: 1000, burstLimit: 2000}}
stageThrottle: {{rateLimit: 5000, burstLimit: 2500}}
alarms:
  actions: ['arn:aws:sns:{REGION}:123456789012:oncall']
  okActions: ['arn:aws:sns:{REGION}:123456789012:oncall-ok']
",
            api = self.api_name,
            test = self.guard.name
        ))
        .unwrap()
    }

    /// Reconciles once; returns the report, the status and the calls it made.
    async fn reconcile(
        &self,
        spec: &ApiGatewayGuardSpec,
    ) -> (Report, ApiGatewayGuardStatus, Vec<Call>) {
        let mark = self.calls.len();
        // Boxed: a test thread's stack is small, and the reconcile future is not.
        let report = Box::pin(reconcile(
            &self.apigateway,
            &self.cloudwatch,
            &self.guard,
            spec,
            Mode::Apply,
        ))
        .await;
        let status = status::build(spec, Some(1), &report, None, "now");
        (report, status, self.calls.since(mark))
    }

    /// The guarded stage as API Gateway has it.
    async fn stage(&self) -> aws_sdk_apigateway::operation::get_stage::GetStageOutput {
        let request = self
            .apigw()
            .get_stage()
            .rest_api_id(&self.api_id)
            .stage_name("prod");
        request.send().await.unwrap()
    }

    fn apigw(&self) -> aws_sdk_apigateway::Client {
        aws_sdk_apigateway::Client::new(&self.config)
    }

    fn cw(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.config)
    }

    /// The guard's alarms as CloudWatch has them, by name.
    async fn alarms(&self) -> HashMap<String, aws_sdk_cloudwatch::types::MetricAlarm> {
        let out = self
            .cw()
            .describe_alarms()
            .alarm_name_prefix(format!("apigw-guard-tests_{}_", self.guard.name))
            .send()
            .await
            .unwrap();
        out.metric_alarms()
            .iter()
            .map(|a| (a.alarm_name().unwrap().to_owned(), a.clone()))
            .collect()
    }

    fn alarm_name(&self, suffix: &str) -> String {
        format!("apigw-guard-tests_{}_{suffix}", self.guard.name)
    }
}

fn writes(calls: &[Call]) -> Vec<&'static str> {
    calls
        .iter()
        .filter(|c| c.write)
        .map(|c| c.operation)
        .collect()
}

#[tokio::test]
async fn first_reconcile_guards_the_stage_and_the_second_writes_nothing() {
    let f = Fixture::new("first", REGION).await;
    support::set_log_role(&f.config).await;
    let spec = f.spec();

    let (report, status, calls) = f.reconcile(&spec).await;
    assert!(
        report.outcomes.iter().all(|o| o.result.is_ok()),
        "{:#?}",
        report.outcomes
    );
    assert_eq!(
        writes(&calls),
        [
            "UpdateStage",
            "PutMetricAlarm",
            "PutMetricAlarm",
            "PutMetricAlarm",
            "UpdateUsagePlan"
        ]
    );
    assert_eq!(
        support::condition(&status, "Ready").0,
        "True",
        "{status:#?}"
    );

    let stage = f.stage().await;
    assert!(stage.tracing_enabled());
    let all = &stage.method_settings().unwrap()["*/*"];
    assert_eq!(all.logging_level(), Some("ERROR"));
    assert!(!all.data_trace_enabled());
    assert!(all.metrics_enabled());
    assert_eq!(
        (all.throttling_rate_limit(), all.throttling_burst_limit()),
        (5000.0, 2500)
    );

    let plan = f
        .apigw()
        .get_usage_plan()
        .usage_plan_id(&f.plan_id)
        .send()
        .await
        .unwrap();
    let throttle = plan.throttle().unwrap();
    assert_eq!(
        (throttle.rate_limit(), throttle.burst_limit()),
        (1000.0, 2000)
    );

    let alarms = f.alarms().await;
    assert_eq!(alarms.len(), 3, "{:?}", alarms.keys());
    let expected = [
        ("5xx", "5XXError", Some("Sum"), None, 10.0),
        ("latency", "Latency", None, Some("p99"), 1000.0),
        (
            "integration-latency",
            "IntegrationLatency",
            None,
            Some("p99"),
            500.0,
        ),
    ];
    for (suffix, metric, statistic, extended, threshold) in expected {
        let alarm = &alarms[&f.alarm_name(suffix)];
        assert_eq!(alarm.namespace(), Some("AWS/ApiGateway"));
        assert_eq!(alarm.metric_name(), Some(metric));
        assert_eq!(alarm.statistic().map(|s| s.as_str()), statistic);
        assert_eq!(alarm.extended_statistic(), extended);
        assert_eq!(alarm.threshold(), Some(threshold));
        assert_eq!(alarm.period(), Some(300));
        assert_eq!(alarm.evaluation_periods(), Some(1));
        assert_eq!(
            alarm.comparison_operator().map(|c| c.as_str()),
            Some("GreaterThanThreshold")
        );
        assert_eq!(alarm.treat_missing_data(), Some("notBreaching"));
        assert_eq!(
            alarm.alarm_actions(),
            [format!("arn:aws:sns:{REGION}:123456789012:oncall")]
        );
        assert_eq!(
            alarm.ok_actions(),
            [format!("arn:aws:sns:{REGION}:123456789012:oncall-ok")]
        );
        let mut dimensions: Vec<(&str, &str)> = alarm
            .dimensions()
            .iter()
            .map(|d| (d.name().unwrap(), d.value().unwrap()))
            .collect();
        dimensions.sort();
        assert_eq!(
            dimensions,
            [("ApiName", f.api_name.as_str()), ("Stage", "prod")]
        );
        let tags = f
            .cloudwatch
            .list_tags(alarm.alarm_arn().unwrap())
            .await
            .unwrap();
        assert!(
            tags.contains(&(OWNER_TAG.to_owned(), "tests/first".to_owned())),
            "{tags:?}"
        );
    }
    let states: Vec<&str> = status.alarms.iter().map(|a| a.state.as_str()).collect();
    assert_eq!(states, ["INSUFFICIENT_DATA"; 3]);

    let (report, status, calls) = f.reconcile(&spec).await;
    assert!(report.plan.is_in_sync(), "{:#?}", report.plan);
    assert_eq!(
        writes(&calls),
        Vec::<&str>::new(),
        "a guard in sync writes nothing"
    );
    let mut reads: Vec<&str> = calls.iter().map(|c| c.operation).collect();
    reads.sort();
    // Per guard: the REST API, stage, usage plan, account and alarms, and the stage's metrics
    // for verification. Alarms that need no write need no tags read.
    assert_eq!(
        reads,
        [
            "DescribeAlarms",
            "GetAccount",
            "GetMetricData",
            "GetRestApis",
            "GetStage",
            "GetUsagePlans",
        ]
    );
    assert_eq!(
        support::condition(&status, "Ready"),
        ("True", "Guarded", "5/5 controls in sync")
    );
    assert_eq!(support::condition(&status, "Tracing").1, "InSync");
}

#[tokio::test]
async fn a_changed_spec_converges_with_minimal_writes() {
    let f = Fixture::new("changed", REGION).await;
    support::set_log_role(&f.config).await;
    f.reconcile(&f.spec()).await;

    let mut spec = f.spec();
    spec.controls.execution_logging.as_mut().unwrap().level =
        apigw_guard::core::crd::LogLevel::Info;
    spec.controls.throttle.as_mut().unwrap().rate_limit = 250.0;
    spec.controls
        .alarms
        .as_mut()
        .unwrap()
        .five_xx_error
        .threshold = Some(3.0);
    let (report, status, calls) = f.reconcile(&spec).await;
    assert!(
        report.outcomes.iter().all(|o| o.result.is_ok()),
        "{:#?}",
        report.outcomes
    );
    assert_eq!(
        writes(&calls),
        ["UpdateStage", "PutMetricAlarm", "UpdateUsagePlan"]
    );
    assert_eq!(support::condition(&status, "Ready").0, "True");

    let stage = f.stage().await;
    assert_eq!(
        stage.method_settings().unwrap()["*/*"].logging_level(),
        Some("INFO")
    );
    let plan = f
        .apigw()
        .get_usage_plan()
        .usage_plan_id(&f.plan_id)
        .send()
        .await
        .unwrap();
    assert_eq!(plan.throttle().unwrap().rate_limit(), 250.0);
    let alarms = f.alarms().await;
    assert_eq!(alarms[&f.alarm_name("5xx")].threshold(), Some(3.0));
    // PutMetricAlarm ignores tags on update; the creation tags must still be there.
    let tags = f
        .cloudwatch
        .list_tags(alarms[&f.alarm_name("5xx")].alarm_arn().unwrap())
        .await
        .unwrap();
    assert!(tags.contains(&(OWNER_TAG.to_owned(), "tests/changed".to_owned())));

    let (_, _, calls) = f.reconcile(&spec).await;
    assert_eq!(writes(&calls), Vec::<&str>::new());
}

#[tokio::test]
async fn drift_made_by_hand_is_put_back() {
    let f = Fixture::new("drift", REGION).await;
    support::set_log_role(&f.config).await;
    let spec = f.spec();
    f.reconcile(&spec).await;
    support::disable_tracing_by_hand(&f.config, &f.api_id).await;
    let (_, status, calls) = f.reconcile(&spec).await;
    assert_eq!(writes(&calls), ["UpdateStage"]);
    assert_eq!(
        support::condition(&status, "Tracing"),
        (
            "True",
            "Updated",
            format!(
                "update-stage {}/prod: /tracingEnabled false -> true",
                f.api_id
            )
            .as_str()
        )
    );
    let stage = f.stage().await;
    assert!(stage.tracing_enabled());
}

#[tokio::test]
async fn missing_logging_role_is_reported_and_the_other_controls_still_apply() {
    // moto accepts execution logging without the role; real AWS answers 400 "CloudWatch Logs
    // role ARN must be set in account settings to enable logging", so the operator checks
    // GetAccount itself. This region has no role.
    let f = Fixture::new("norole", REGION_WITHOUT_LOG_ROLE).await;
    let spec = f.spec();
    let (_, status, calls) = f.reconcile(&spec).await;
    let (state, reason, message) = support::condition(&status, "ExecutionLogging");
    assert_eq!((state, reason), ("False", "CloudWatchRoleMissing"));
    assert!(message.contains("update-account"), "{message}");
    assert_eq!(support::condition(&status, "Ready").0, "False");
    assert_eq!(
        support::condition(&status, "Stalled"),
        (
            "True",
            "CloudWatchRoleMissing",
            support::condition(&status, "Ready").2
        )
    );
    assert_eq!(support::condition(&status, "Tracing").0, "True");
    assert_eq!(support::condition(&status, "Alarms").0, "True");
    assert_eq!(
        writes(&calls),
        [
            "UpdateStage",
            "PutMetricAlarm",
            "PutMetricAlarm",
            "PutMetricAlarm",
            "UpdateUsagePlan"
        ]
    );
    let stage = f.stage().await;
    assert!(stage.tracing_enabled());
    let all = &stage.method_settings().unwrap()["*/*"];
    assert_eq!(
        all.logging_level(),
        None,
        "logging must not be switched on without the role"
    );
    assert!(all.metrics_enabled(), "detailed metrics need no role");
}

#[tokio::test]
async fn a_missing_api_or_stage_fails_with_the_aws_code_and_writes_nothing() {
    let f = Fixture::new("missing", REGION).await;
    let mut spec = f.spec();
    spec.rest_api = Some(apigw_guard::core::crd::ResourceRef {
        name: Some("no-such-api".to_owned()),
        id: None,
    });
    let (report, status, calls) = f.reconcile(&spec).await;
    let err = report.observed.as_ref().unwrap_err();
    assert_eq!(err.source.code, "NotFoundException");
    assert!(err.to_string().contains("\"no-such-api\""), "{err}");
    assert!(writes(&calls).is_empty());
    assert_eq!(support::condition(&status, "Stalled").0, "True");

    let mut spec = f.spec();
    spec.stage = "nostage".to_owned();
    let (report, _, calls) = f.reconcile(&spec).await;
    let err = report.observed.as_ref().unwrap_err();
    assert_eq!(err.source.code, "NotFoundException", "{err}");
    assert_eq!(err.source.operation, "GetStage");
    assert!(err.to_string().contains("stage \"nostage\""), "{err}");
    assert!(writes(&calls).is_empty());

    let mut spec = f.spec();
    spec.rest_api = Some(apigw_guard::core::crd::ResourceRef {
        name: None,
        id: Some("nosuchid".to_owned()),
    });
    let (report, _, _) = f.reconcile(&spec).await;
    let err = report.observed.as_ref().unwrap_err();
    assert_eq!(
        (err.source.operation, err.source.code.as_str()),
        ("GetRestApi", "NotFoundException")
    );
}

#[tokio::test]
async fn a_usage_plan_that_does_not_serve_the_stage_blocks_only_the_throttle() {
    let f = Fixture::new("wrongplan", REGION).await;
    support::set_log_role(&f.config).await;
    let other_api = support::seed_api(&f.config, "wrongplan-other-api", "prod").await;
    support::seed_usage_plan(&f.config, "wrongplan-other-plan", &other_api, "prod").await;
    let mut spec = f.spec();
    spec.controls.throttle.as_mut().unwrap().usage_plan.name =
        Some("wrongplan-other-plan".to_owned());
    let (_, status, calls) = f.reconcile(&spec).await;
    let (state, reason, message) = support::condition(&status, "Throttle");
    assert_eq!((state, reason), ("False", "UsagePlanNotServingStage"));
    assert!(message.contains("does not serve stage prod"), "{message}");
    assert!(!writes(&calls).contains(&"UpdateUsagePlan"));
    assert_eq!(support::condition(&status, "Tracing").0, "True");

    spec.controls.throttle.as_mut().unwrap().usage_plan.name = Some("no-such-plan".to_owned());
    let (_, status, _) = f.reconcile(&spec).await;
    let (_, reason, message) = support::condition(&status, "Throttle");
    assert_eq!(reason, "NotFoundException");
    assert!(message.contains("\"no-such-plan\""), "{message}");
}

#[tokio::test]
async fn an_alarm_owned_by_someone_else_is_left_alone() {
    let f = Fixture::new("conflict", REGION).await;
    support::set_log_role(&f.config).await;
    let name = f.alarm_name("5xx");
    support::put_foreign_alarm(&f.config, &name, "5XXError", "someone/else", 99.0).await;
    let (_, status, calls) = f.reconcile(&f.spec()).await;
    let (state, reason, message) = support::condition(&status, "Alarms");
    assert_eq!((state, reason), ("False", "Conflict"));
    assert!(message.contains("someone/else"), "{message}");
    assert_eq!(
        writes(&calls)
            .iter()
            .filter(|w| **w == "PutMetricAlarm")
            .count(),
        2
    );
    let alarms = f.alarms().await;
    assert_eq!(
        alarms[&name].threshold(),
        Some(99.0),
        "the foreign alarm is untouched"
    );
    assert_eq!(alarms[&name].period(), Some(60));
    assert!(
        status.alarms.iter().all(|a| a.name != name),
        "a foreign alarm is not ours to show"
    );
}

#[tokio::test]
async fn disabling_an_alarm_deletes_it() {
    let f = Fixture::new("disable", REGION).await;
    support::set_log_role(&f.config).await;
    f.reconcile(&f.spec()).await;
    let mut spec = f.spec();
    spec.controls.alarms.as_mut().unwrap().latency.enabled = Some(false);
    let (_, status, calls) = f.reconcile(&spec).await;
    assert_eq!(writes(&calls), ["DeleteAlarms"]);
    let alarms = f.alarms().await;
    assert!(!alarms.contains_key(&f.alarm_name("latency")));
    assert_eq!(alarms.len(), 2);
    assert_eq!(status.alarms.len(), 2);
}

#[tokio::test]
async fn cloudwatch_errors_keep_their_aws_code_through_the_cbor_protocol() {
    let f = Fixture::new("cwerror", REGION).await;
    let err = f
        .cloudwatch
        .tag_alarm(
            "arn:aws:cloudwatch:us-east-1:123456789012:alarm:does-not-exist",
            &f.guard.tags(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.operation, "TagResource");
    assert_eq!(err.code, "ResourceNotFoundException", "{err}");
    assert!(!err.retryable);
}

#[tokio::test]
async fn a_deleted_api_is_reported_not_found_and_recovers_when_it_returns() {
    let f = Fixture::new("reborn", REGION).await;
    support::set_log_role(&f.config).await;
    let spec = f.spec();
    let (_, status, _) = f.reconcile(&spec).await;
    assert_eq!(support::condition(&status, "Ready").0, "True");

    f.apigw()
        .delete_rest_api()
        .rest_api_id(&f.api_id)
        .send()
        .await
        .unwrap();
    let (report, status, calls) = f.reconcile(&spec).await;
    assert!(writes(&calls).is_empty());
    let (state, reason, message) = support::condition(&status, "Stalled");
    assert_eq!((state, reason), ("True", "NotFoundException"));
    assert!(
        message.contains("REST API named \"reborn-api\""),
        "{message}"
    );
    assert!(report.observed.is_err());

    // The team redeploys the API under the same name (a new id) and adds it to the plan.
    let new_id = support::seed_api(&f.config, "reborn-api", "prod").await;
    f.apigw()
        .update_usage_plan()
        .usage_plan_id(&f.plan_id)
        .patch_operations(
            aws_sdk_apigateway::types::PatchOperation::builder()
                .op(aws_sdk_apigateway::types::Op::Add)
                .path("/apiStages")
                .value(format!("{new_id}:prod"))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let (_, status, calls) = f.reconcile(&spec).await;
    assert_eq!(
        support::condition(&status, "Ready").0,
        "True",
        "{status:#?}"
    );
    assert_eq!(status.api_id.as_deref(), Some(new_id.as_str()));
    assert_eq!(
        writes(&calls),
        ["UpdateStage"],
        "the new stage is set up; the alarms (by ApiName) stand"
    );
    assert_eq!(f.alarms().await.len(), 3, "no duplicate alarms");
}

#[tokio::test]
async fn an_invalid_spec_is_reported_before_any_aws_call() {
    let f = Fixture::new("invalid", REGION).await;
    let mut spec = f.spec();
    spec.controls.alarms.as_mut().unwrap().latency.statistic = Some("Median".to_owned());
    spec.controls.stage_throttle.as_mut().unwrap().burst_limit = -1;
    let (report, status, calls) = f.reconcile(&spec).await;
    assert!(calls.is_empty(), "{calls:?}");
    assert!(report.observed.is_err());
    let (state, reason, message) = support::condition(&status, "Stalled");
    assert_eq!((state, reason), ("True", "InvalidSpec"));
    assert!(
        message.contains("spec.stageThrottle.burstLimit: must be 0 or more"),
        "{message}"
    );
    assert!(
        message.contains("spec.alarms.latency.statistic: \"Median\""),
        "{message}"
    );
}

#[tokio::test]
async fn status_verifies_the_runbook_targets_from_cloudwatch() {
    let f = Fixture::new("verified", REGION).await;
    support::set_log_role(&f.config).await;
    let (_, status, _) = f.reconcile(&f.spec()).await;
    let (state, reason, _) = support::condition(&status, "Verified");
    assert_eq!((state, reason), ("Unknown", "NoTraffic"));

    // 200 requests, none failing, p99 Latency 180 ms and IntegrationLatency 120 ms.
    let ones = vec![1.0; 200];
    let latencies: Vec<f64> = (1..=200)
        .map(|i| if i > 197 { 180.0 } else { 40.0 })
        .collect();
    let integration: Vec<f64> = latencies.iter().map(|l| l - 60.0).collect();
    support::put_stage_metrics(
        &f.config,
        &f.api_name,
        &[
            ("Count", &ones),
            ("5XXError", &[0.0]),
            ("4XXError", &[3.0]),
            ("Latency", &latencies),
            ("IntegrationLatency", &integration),
        ],
    )
    .await;
    let (report, status, calls) = f.reconcile(&f.spec()).await;
    assert!(report.plan.is_in_sync());
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.operation == "GetMetricData")
            .count(),
        1
    );
    let (state, reason, message) = support::condition(&status, "Verified");
    assert_eq!((state, reason), ("True", "TargetsMet"), "{message}");
    let verification = status.verification.clone().unwrap();
    assert_eq!(verification.window_seconds, 300);
    assert_eq!(verification.requests, Some(200.0));
    assert_eq!(verification.five_xx_errors, Some(0.0));
    assert_eq!(verification.four_xx_errors, Some(3.0));
    assert_eq!(verification.latency_p99_ms, Some(180.0));
    assert_eq!(verification.integration_latency_p99_ms, Some(120.0));
    assert_eq!(
        support::condition(&status, "Ready").0,
        "True",
        "verification does not decide Ready"
    );

    // Then the backend times out: 5XX errors and an IntegrationLatency near 29 s.
    support::put_stage_metrics(
        &f.config,
        &f.api_name,
        &[
            ("5XXError", &[7.0]),
            ("IntegrationLatency", &[28_800.0; 20]),
        ],
    )
    .await;
    let (_, status, _) = f.reconcile(&f.spec()).await;
    let (state, reason, message) = support::condition(&status, "Verified");
    assert_eq!((state, reason), ("False", "FiveXXErrors"), "{message}");
    assert!(message.contains("5XXError 7 of 200 requests"), "{message}");
    assert!(message.contains("likely 504 Gateway Timeout"), "{message}");
}

impl Fixture {
    fn dashboard_name(&self) -> String {
        format!("apigw-guard-tests_{}", self.guard.name)
    }

    /// The guard's dashboard body as CloudWatch has it, parsed; `None` when there is none.
    async fn dashboard(&self) -> Option<serde_json::Value> {
        support::dashboard(&self.config, &self.dashboard_name()).await
    }

    /// A PutDashboard made by hand, as in the console.
    async fn put_dashboard_by_hand(&self, body: &serde_json::Value) {
        self.cw()
            .put_dashboard()
            .dashboard_name(self.dashboard_name())
            .dashboard_body(body.to_string())
            .send()
            .await
            .unwrap();
    }

    fn spec_with(&self, yaml: &str) -> ApiGatewayGuardSpec {
        let mut spec: serde_json::Value = serde_json::to_value(self.spec()).unwrap();
        let extra: serde_json::Value = serde_yaml::from_str(yaml).unwrap();
        spec.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(spec).unwrap()
    }
}

fn reads(calls: &[Call]) -> Vec<&'static str> {
    calls
        .iter()
        .filter(|c| !c.write)
        .map(|c| c.operation)
        .collect()
}

#[tokio::test]
async fn a_dashboard_is_created_kept_put_back_and_removed() {
    let fx = Fixture::new("dashboard-life", REGION).await;
    support::set_log_role(&fx.config).await;
    let spec = fx.spec_with("dashboard: {}");

    let (_, status, calls) = fx.reconcile(&spec).await;
    assert_eq!(
        writes(&calls)
            .iter()
            .filter(|op| **op == "PutDashboard")
            .count(),
        1,
        "{calls:?}"
    );
    assert_eq!(support::condition(&status, "Dashboard").0, "True");
    assert_eq!(support::condition(&status, "Ready").0, "True");
    let body = fx.dashboard().await.expect("the dashboard exists");
    let widgets = body["widgets"].as_array().unwrap();
    assert_eq!(widgets.len(), 5, "text, three graphs, alarms");
    // The alarm widget names the alarms the guard made, by their real ARNs.
    let mut arns: Vec<String> = fx
        .alarms()
        .await
        .values()
        .map(|a| a.alarm_arn().unwrap().to_owned())
        .collect();
    arns.sort();
    let mut shown: Vec<String> = widgets[4]["properties"]["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    shown.sort();
    assert_eq!(shown, arns);
    assert_eq!(arns.len(), 3);
    let links = status.links.as_ref().unwrap();
    assert_eq!(
        links.dashboard.as_deref(),
        Some(
            format!(
                "https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}\
                 #dashboards/dashboard/{}",
                fx.dashboard_name()
            )
            .as_str()
        )
    );
    assert!(links.stage.contains(&fx.api_id));

    // In sync: no write, one GetDashboard (per-guard clients read every time).
    let (_, _, calls) = fx.reconcile(&spec).await;
    assert!(writes(&calls).is_empty(), "{calls:?}");
    assert_eq!(
        reads(&calls)
            .iter()
            .filter(|op| **op == "GetDashboard")
            .count(),
        1
    );

    // A body AWS formats otherwise is no drift; an edited widget is put back.
    fx.cw()
        .put_dashboard()
        .dashboard_name(fx.dashboard_name())
        .dashboard_body(serde_json::to_string_pretty(&body).unwrap())
        .send()
        .await
        .unwrap();
    let (_, _, calls) = fx.reconcile(&spec).await;
    assert!(writes(&calls).is_empty(), "{calls:?}");
    let mut edited = body.clone();
    edited["widgets"][1]["properties"]["period"] = 3600.into();
    fx.put_dashboard_by_hand(&edited).await;
    let (report, _, calls) = fx.reconcile(&spec).await;
    assert_eq!(writes(&calls), ["PutDashboard"]);
    assert_eq!(
        report.outcomes[0].action.to_string(),
        format!(
            "put-dashboard {} (update: Requests and errors)",
            fx.dashboard_name()
        )
    );
    assert_eq!(fx.dashboard().await, Some(body));

    // enabled: false removes it; the guard's delete finds nothing left to remove.
    let disabled = fx.spec_with("dashboard: {enabled: false}");
    let (_, status, calls) = fx.reconcile(&disabled).await;
    assert_eq!(writes(&calls), ["DeleteDashboards"]);
    assert_eq!(fx.dashboard().await, None);
    assert_eq!(status.links.unwrap().dashboard, None);
    assert_eq!(
        apigw_guard::reconcile::owned_dashboards(&fx.cloudwatch, &fx.guard)
            .await
            .unwrap(),
        Vec::<String>::new()
    );
    // Re-enabled, it is the guard's to remove on delete (deletionPolicy Delete).
    fx.reconcile(&spec).await;
    assert_eq!(
        apigw_guard::reconcile::owned_dashboards(&fx.cloudwatch, &fx.guard)
            .await
            .unwrap(),
        [fx.dashboard_name()]
    );
}

#[tokio::test]
async fn a_dashboard_of_the_name_that_the_guard_did_not_make_is_never_written() {
    let fx = Fixture::new("dashboard-foreign", REGION).await;
    support::set_log_role(&fx.config).await;
    let theirs = serde_json::json!({"widgets": [{
        "type": "text", "x": 0, "y": 0, "width": 6, "height": 3,
        "properties": {"markdown": "the payments team's own board"},
    }]});
    fx.put_dashboard_by_hand(&theirs).await;

    let (_, status, calls) = fx.reconcile(&fx.spec_with("dashboard: {}")).await;
    assert!(!writes(&calls).contains(&"PutDashboard"), "{calls:?}");
    let (state, reason, message) = support::condition(&status, "Dashboard");
    assert_eq!((state, reason), ("False", "Conflict"));
    assert!(message.contains("is not marked"), "{message}");
    assert_eq!(support::condition(&status, "Stalled").0, "True");
    assert_eq!(
        support::condition(&status, "Alarms").0,
        "True",
        "the rest is guarded"
    );

    let (_, _, calls) = fx
        .reconcile(&fx.spec_with("dashboard: {enabled: false}"))
        .await;
    assert!(!writes(&calls).contains(&"DeleteDashboards"), "{calls:?}");
    assert_eq!(fx.dashboard().await, Some(theirs));
    assert_eq!(
        apigw_guard::reconcile::owned_dashboards(&fx.cloudwatch, &fx.guard)
            .await
            .unwrap(),
        Vec::<String>::new(),
        "deleting the guard leaves it too"
    );
}

/// Guards made before names were injective own alarms and a dashboard under their first names
/// (`apigw-guard-<namespace>-<name>-...`). One reconcile writes them anew under today's names
/// and only then deletes the old ones; an alarm of an old name that another owner tagged is
/// left alone.
#[tokio::test]
async fn alarms_and_a_dashboard_under_their_first_names_are_renamed_in_one_reconcile() {
    let fx = Fixture::new("renamed", REGION).await;
    support::set_log_role(&fx.config).await;
    let spec = fx.spec_with("dashboard: {}");
    // What an older operator left: the guard's alarms and dashboard under the first names.
    fx.reconcile(&spec).await;
    let legacy = fx.guard.legacy_alarm_names();
    let owners = ["someone/else", "tests/renamed", "tests/renamed"];
    for ((name, metric), owner) in legacy
        .iter()
        .zip(["5XXError", "Latency", "IntegrationLatency"])
        .zip(owners)
    {
        support::put_foreign_alarm(&fx.config, name, metric, owner, 1.0).await;
    }
    let body = fx.dashboard().await.unwrap();
    fx.cw()
        .put_dashboard()
        .dashboard_name(fx.guard.legacy_dashboard_name())
        .dashboard_body(body.to_string())
        .send()
        .await
        .unwrap();
    fx.cw()
        .delete_alarms()
        .set_alarm_names(Some(fx.guard.alarm_names()))
        .send()
        .await
        .unwrap();
    fx.cw()
        .delete_dashboards()
        .dashboard_names(fx.dashboard_name())
        .send()
        .await
        .unwrap();

    let (report, status, calls) = fx.reconcile(&spec).await;
    assert_eq!(
        writes(&calls),
        [
            "PutMetricAlarm",
            "PutMetricAlarm",
            "PutMetricAlarm",
            "PutDashboard",
            "DeleteDashboards",
            "DeleteAlarms"
        ],
        "every old name is deleted after its successor is written"
    );
    assert!(report.outcomes.iter().all(|o| o.result.is_ok()));
    assert_eq!(support::condition(&status, "Ready").0, "True");
    let mut names: Vec<String> = fx.alarms().await.into_keys().collect();
    names.sort();
    let mut wanted = fx.guard.alarm_names();
    wanted.sort();
    assert_eq!(names, wanted);
    let left = support::alarm_names(&fx.config, "apigw-guard-tests-renamed-").await;
    assert_eq!(left, [legacy[0].clone()], "someone else's alarm stays");
    assert_eq!(fx.dashboard().await, Some(body));
    assert_eq!(
        support::dashboard(&fx.config, &fx.guard.legacy_dashboard_name()).await,
        None
    );
    // Renamed once: the next reconcile has nothing to write.
    let (_, _, calls) = fx.reconcile(&spec).await;
    assert!(writes(&calls).is_empty(), "{calls:?}");
}

/// One reconcile of `spec` through the clients [`http_guard`] gives: its report, the status
/// it makes, and the calls it made.
async fn applied(
    (calls, apigateway, cloudwatch, guard): (&CallLog, &SdkApiGateway, &SdkCloudWatch, &GuardId),
    spec: &ApiGatewayGuardSpec,
) -> (Report, ApiGatewayGuardStatus, Vec<Call>) {
    let mark = calls.len();
    let report = Box::pin(reconcile(apigateway, cloudwatch, guard, spec, Mode::Apply)).await;
    let status = status::build(spec, Some(1), &report, None, "now");
    (report, status, calls.since(mark))
}

/// The operator's own clients, their call log, and the guard `tests/{name}`.
async fn http_guard(
    config: &SdkConfig,
    name: &str,
) -> (CallLog, SdkApiGateway, SdkCloudWatch, GuardId) {
    let calls = CallLog::default();
    let (apigateway, cloudwatch) = support::unlimited_clients(config)
        .per_guard_clients(&Identity::Own, None, &calls)
        .await;
    let guard = GuardId {
        namespace: "tests".to_owned(),
        name: name.to_owned(),
    };
    (calls, apigateway, cloudwatch, guard)
}

/// An HTTP API guard with every control HTTP APIs have, against the local AWS (whose v2
/// UpdateStage and Logs checks are the project's own, see scripts/local_aws.py).
#[tokio::test]
async fn an_http_api_guard_sets_throttles_metrics_access_logs_and_v2_alarms_then_writes_nothing() {
    let config = support::config(REGION).await;
    let api_id =
        support::seed_http_api(&config, "http-guarded", "$default", &["GET /orders"]).await;
    let (calls, apigateway, cloudwatch, guard) = http_guard(&config, "http-guarded").await;
    let spec: ApiGatewayGuardSpec = serde_yaml::from_str(
        "
httpApi: {name: http-guarded}
stage: $default
detailedMetrics: true
accessLogging: {}
stageThrottle:
  rateLimit: 100
  burstLimit: 50
  routes: {'GET /orders': {rateLimit: 10, burstLimit: 5}}
alarms: {}
",
    )
    .unwrap();
    let run = |spec: ApiGatewayGuardSpec| {
        let own = (&calls, &apigateway, &cloudwatch, &guard);
        async move { applied(own, &spec).await }
    };
    let (report, status, made) = run(spec.clone()).await;
    assert_eq!(
        support::condition(&status, "Ready"),
        ("True", "Guarded", "4/4 controls in sync"),
        "{report:#?}"
    );
    assert_eq!(
        writes(&made),
        [
            "CreateLogGroup",
            "PutRetentionPolicy",
            "UpdateStage",
            "PutMetricAlarm",
            "PutMetricAlarm",
            "PutMetricAlarm"
        ]
    );
    assert_eq!(status.api_kind, Some(apigw_guard::core::crd::ApiKind::Http));
    assert_eq!(status.api_id.as_deref(), Some(api_id.as_str()));

    // What AWS has now.
    let v2 = aws_sdk_apigatewayv2::Client::new(&config);
    let stage = v2
        .get_stage()
        .api_id(&api_id)
        .stage_name("$default")
        .send()
        .await
        .unwrap();
    let default = stage.default_route_settings().unwrap();
    assert_eq!(default.detailed_metrics_enabled(), Some(true));
    assert_eq!(default.throttling_rate_limit(), Some(100.0));
    assert_eq!(default.throttling_burst_limit(), Some(50));
    let route = &stage.route_settings().unwrap()["GET /orders"];
    assert_eq!(
        (
            route.throttling_rate_limit(),
            route.throttling_burst_limit()
        ),
        (Some(10.0), Some(5))
    );
    let group = format!("/aws/apigateway/apigw-guard/{api_id}/_default");
    let access = stage.access_log_settings().unwrap();
    assert!(
        access
            .destination_arn()
            .unwrap()
            .ends_with(&format!(":log-group:{group}")),
        "{access:?}"
    );
    assert!(
        access
            .format()
            .unwrap()
            .contains("$context.integrationErrorMessage")
    );
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    let described = logs
        .describe_log_groups()
        .log_group_name_prefix(&group)
        .send()
        .await
        .unwrap();
    assert_eq!(described.log_groups()[0].retention_in_days(), Some(30));
    let alarm = cloudwatch
        .describe_alarms(&[guard.alarm_name(apigw_guard::core::model::AlarmKind::FiveXxError)])
        .await
        .unwrap()
        .remove(0)
        .config
        .unwrap();
    assert_eq!(alarm.stat().unwrap().metric_name, "5xx");
    assert_eq!(
        alarm.stat().unwrap().dimensions,
        [
            ("ApiId".to_owned(), api_id.clone()),
            ("Stage".to_owned(), "$default".to_owned())
        ]
    );

    // In sync: nothing written.
    let (_, status, again) = run(spec.clone()).await;
    assert_eq!(writes(&again), Vec::<&str>::new(), "{again:?}");
    assert_eq!(support::condition(&status, "Ready").0, "True");

    // A route throttle changed by hand is put back, alone.
    v2.update_stage()
        .api_id(&api_id)
        .stage_name("$default")
        .route_settings(
            "GET /orders",
            aws_sdk_apigatewayv2::types::RouteSettings::builder()
                .throttling_rate_limit(9999.0)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let (report, _, fixed) = run(spec.clone()).await;
    assert_eq!(writes(&fixed), ["UpdateStage"]);
    assert_eq!(
        report.plan.actions[0].to_string(),
        format!(
            "update-stage {api_id}/$default: /routeSettings/GET /orders/throttlingRateLimit 9999 -> 10"
        )
    );

    // The group is this guard's: deleting the guard may remove it; a guard of another name
    // does not own it.
    let owned = apigw_guard::reconcile::owned_log_group(&cloudwatch, &guard, &spec, Some(&api_id));
    assert_eq!(owned.await.unwrap(), Some(group.clone()));
    let other = GuardId {
        namespace: "tests".to_owned(),
        name: "someone-else".to_owned(),
    };
    let theirs = apigw_guard::reconcile::owned_log_group(&cloudwatch, &other, &spec, Some(&api_id));
    assert_eq!(theirs.await.unwrap(), None);
}

/// A WebSocket API guard with every control WebSocket APIs have, against the local AWS:
/// execution logging and detailed metrics in the default route settings, a route's throttle by
/// its route key, access logs, and alarms on the kind's own metrics (its errors are
/// IntegrationError plus ExecutionError; it publishes no Latency, so it gets no latency alarm).
/// In sync it writes nothing; a setting changed by hand is put back, the others carried.
#[tokio::test]
async fn a_websocket_api_guard_keeps_route_settings_and_alarms_on_its_own_metrics() {
    let config = support::config(REGION).await;
    support::set_log_role(&config).await;
    let routes = ["$connect", "$disconnect", "$default", "sendMessage"];
    let api_id = support::seed_websocket_api(&config, "ws-guarded", "prod", &routes).await;
    let (calls, apigateway, cloudwatch, guard) = http_guard(&config, "ws-guarded").await;
    let spec: ApiGatewayGuardSpec = serde_yaml::from_str(
        "
websocketApi: {name: ws-guarded}
stage: prod
executionLogging: {level: INFO}
detailedMetrics: true
accessLogging: {}
stageThrottle:
  rateLimit: 100
  burstLimit: 50
  routes: {sendMessage: {rateLimit: 10, burstLimit: 5}}
alarms: {}
",
    )
    .unwrap();
    let run = |spec: ApiGatewayGuardSpec| {
        let own = (&calls, &apigateway, &cloudwatch, &guard);
        async move { applied(own, &spec).await }
    };
    let (report, status, made) = run(spec.clone()).await;
    assert_eq!(
        support::condition(&status, "Ready"),
        ("True", "Guarded", "5/5 controls in sync"),
        "{report:#?}"
    );
    assert_eq!(
        writes(&made),
        [
            "CreateLogGroup",
            "PutRetentionPolicy",
            "UpdateStage",
            "PutMetricAlarm",
            "PutMetricAlarm"
        ]
    );
    assert_eq!(
        status.api_kind,
        Some(apigw_guard::core::crd::ApiKind::WebSocket)
    );
    let shown: Vec<&str> = status.alarms.iter().map(|a| a.metric.as_str()).collect();
    assert_eq!(
        shown,
        ["IntegrationError + ExecutionError", "IntegrationLatency"]
    );

    let v2 = aws_sdk_apigatewayv2::Client::new(&config);
    let stage = || async {
        v2.get_stage()
            .api_id(&api_id)
            .stage_name("prod")
            .send()
            .await
            .unwrap()
    };
    let got = stage().await;
    let default = got.default_route_settings().unwrap();
    assert_eq!(
        (
            default.logging_level().map(|l| l.as_str()),
            default.data_trace_enabled(),
            default.detailed_metrics_enabled(),
            default.throttling_rate_limit(),
            default.throttling_burst_limit()
        ),
        (Some("INFO"), Some(false), Some(true), Some(100.0), Some(50))
    );
    let route = &got.route_settings().unwrap()["sendMessage"];
    assert_eq!(
        (
            route.throttling_rate_limit(),
            route.throttling_burst_limit(),
            route.detailed_metrics_enabled()
        ),
        (Some(10.0), Some(5), Some(true))
    );
    assert!(
        got.access_log_settings()
            .and_then(|a| a.format())
            .is_some_and(|f| f.contains("$context.connectionId")),
        "{got:?}"
    );
    let alarms = cloudwatch
        .describe_alarms(&guard.alarm_names())
        .await
        .unwrap();
    assert_eq!(alarms.len(), 2, "no Latency alarm: {alarms:?}");
    let errors = alarms
        .iter()
        .find(|a| a.name == guard.alarm_name(apigw_guard::core::model::AlarmKind::FiveXxError))
        .and_then(|a| a.config.clone())
        .unwrap();
    let apigw_guard::core::model::AlarmRule::Threshold(threshold) = &errors.rule else {
        panic!("a metric alarm: {errors:?}");
    };
    let apigw_guard::core::model::AlarmMetric::Math(queries) = &threshold.metric else {
        panic!("the errors' sum: {threshold:?}");
    };
    let summed: Vec<(&str, &[(String, String)])> = queries
        .iter()
        .filter_map(|q| match &q.query {
            apigw_guard::core::model::Query::Stat(stat) => {
                Some((stat.metric_name.as_str(), stat.dimensions.as_slice()))
            }
            apigw_guard::core::model::Query::Expression(_) => None,
        })
        .collect();
    let dimensions = [
        ("ApiId".to_owned(), api_id.clone()),
        ("Stage".to_owned(), "prod".to_owned()),
    ];
    assert_eq!(
        summed,
        [
            ("IntegrationError", dimensions.as_slice()),
            ("ExecutionError", dimensions.as_slice())
        ]
    );

    // In sync: nothing written.
    let (_, status, again) = run(spec.clone()).await;
    assert_eq!(writes(&again), Vec::<&str>::new(), "{again:?}");
    assert_eq!(support::condition(&status, "Ready").0, "True");

    // Execution logging turned off by hand is put back; the route settings group it is in
    // is written whole, so its throttle and metrics are carried as they are.
    v2.update_stage()
        .api_id(&api_id)
        .stage_name("prod")
        .default_route_settings(
            aws_sdk_apigatewayv2::types::RouteSettings::builder()
                .logging_level(aws_sdk_apigatewayv2::types::LoggingLevel::Off)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let (report, _, fixed) = run(spec.clone()).await;
    assert_eq!(writes(&fixed), ["UpdateStage"]);
    assert_eq!(
        report.plan.actions[0].to_string(),
        format!("update-stage {api_id}/prod: /defaultRouteSettings/loggingLevel OFF -> INFO")
    );
    let default = stage().await.default_route_settings().cloned().unwrap();
    assert_eq!(
        (
            default.logging_level().map(|l| l.as_str()),
            default.throttling_rate_limit()
        ),
        (Some("INFO"), Some(100.0))
    );
}

/// A route key the API does not have (a typo, or a route its team removed) costs only that
/// route's throttle: the rest goes in the one UpdateStage, and the unknown key is reported in
/// StageThrottle with the routes that exist, with no failed call then or later.
#[tokio::test]
async fn a_route_the_api_does_not_have_costs_only_its_own_throttle() {
    let config = support::config(REGION).await;
    let routes = ["GET /orders", "POST /orders"];
    let api_id = support::seed_http_api(&config, "http-typo", "$default", &routes).await;
    let (calls, apigateway, cloudwatch, guard) = http_guard(&config, "http-typo").await;
    let spec: ApiGatewayGuardSpec = serde_yaml::from_str(
        "
httpApi: {name: http-typo}
stage: $default
detailedMetrics: true
stageThrottle:
  rateLimit: 100
  burstLimit: 50
  routes: {'GET /orders': {rateLimit: 10, burstLimit: 5}, 'GET /oders': {rateLimit: 1, burstLimit: 1}}
",
    )
    .unwrap();
    let run = || async {
        let mark = calls.len();
        let report = Box::pin(reconcile(
            &apigateway,
            &cloudwatch,
            &guard,
            &spec,
            Mode::Apply,
        ))
        .await;
        let status = status::build(&spec, Some(1), &report, None, "now");
        (report, status, calls.since(mark))
    };
    let (report, status, made) = run().await;
    assert_eq!(writes(&made), ["UpdateStage"]);
    assert!(
        report.outcomes.iter().all(|o| o.result.is_ok()),
        "{:?}",
        report.outcomes
    );
    let (state, reason, message) = support::condition(&status, "StageThrottle");
    assert_eq!((state, reason), ("False", "UnknownRoute"));
    assert!(
        message.contains(&format!(
            "route(s) GET /oders that API {api_id} does not have (its routes: GET /orders, POST /orders)"
        )),
        "{message}"
    );
    assert_eq!(support::condition(&status, "DetailedMetrics").0, "True");
    let v2 = aws_sdk_apigatewayv2::Client::new(&config);
    let stage = || v2.get_stage().api_id(&api_id).stage_name("$default").send();
    let read = stage().await.unwrap();
    let default = read.default_route_settings().unwrap();
    assert_eq!(
        (
            default.throttling_rate_limit(),
            default.detailed_metrics_enabled()
        ),
        (Some(100.0), Some(true))
    );
    assert_eq!(
        read.route_settings().unwrap()["GET /orders"].throttling_rate_limit(),
        Some(10.0)
    );

    // The API's team removes GET /orders: reported the same way, and nothing is written.
    let listed = v2.get_routes().api_id(&api_id).send().await.unwrap();
    let get = listed
        .items()
        .iter()
        .find(|r| r.route_key() == Some("GET /orders"))
        .unwrap();
    v2.delete_route()
        .api_id(&api_id)
        .route_id(get.route_id().unwrap())
        .send()
        .await
        .unwrap();
    let (report, status, made) = run().await;
    assert_eq!(writes(&made), Vec::<&str>::new(), "{made:?}");
    assert!(report.outcomes.is_empty(), "{:?}", report.outcomes);
    let (_, reason, message) = support::condition(&status, "StageThrottle");
    assert_eq!(reason, "UnknownRoute");
    assert!(
        message.contains("route(s) GET /oders, GET /orders that API"),
        "{message}"
    );
    assert!(message.contains("(its routes: POST /orders)"), "{message}");
}

/// A log group someone else made is written to and never changed, and never the guard's to
/// delete.
#[tokio::test]
async fn an_access_log_group_the_guard_did_not_make_is_used_and_left_alone() {
    let config = support::config(REGION).await;
    let api_id = support::seed_http_api(&config, "http-theirs", "prod", &[]).await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    logs.create_log_group()
        .log_group_name("/team/http-theirs")
        .send()
        .await
        .unwrap();
    logs.put_retention_policy()
        .log_group_name("/team/http-theirs")
        .retention_in_days(7)
        .send()
        .await
        .unwrap();
    let (calls, apigateway, cloudwatch, guard) = http_guard(&config, "http-theirs").await;
    let spec: ApiGatewayGuardSpec = serde_yaml::from_str(&format!(
        "httpApi: {{id: {api_id}}}\nstage: prod\naccessLogging: {{logGroupName: /team/http-theirs, retentionDays: 90}}\n"
    ))
    .unwrap();
    let report = Box::pin(reconcile(
        &apigateway,
        &cloudwatch,
        &guard,
        &spec,
        Mode::Apply,
    ))
    .await;
    assert_eq!(writes(&calls.since(0)), ["UpdateStage"], "{report:#?}");
    let described = logs
        .describe_log_groups()
        .log_group_name_prefix("/team/http-theirs")
        .send()
        .await
        .unwrap();
    assert_eq!(described.log_groups()[0].retention_in_days(), Some(7));
    let owned = apigw_guard::reconcile::owned_log_group(&cloudwatch, &guard, &spec, Some(&api_id));
    assert_eq!(owned.await.unwrap(), None);
}

/// A guard's objective against the local AWS (moto plus the project's composite alarms).
fn slo_spec(f: &Fixture, slo: &str) -> ApiGatewayGuardSpec {
    serde_yaml::from_str(&format!(
        "restApi: {{name: {}}}\nstage: prod\nalarms:\n  actions: ['arn:aws:sns:{REGION}:123456789012:oncall']\nslo: {slo}\n",
        f.api_name
    ))
    .unwrap()
}

/// The objective's metric and composite alarms in CloudWatch.
async fn objective_alarms(
    f: &Fixture,
) -> aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput {
    f.cw()
        .describe_alarms()
        .alarm_name_prefix(format!("apigw-guard-tests_{}_slo", f.guard.name))
        .alarm_types(aws_sdk_cloudwatch::types::AlarmType::MetricAlarm)
        .alarm_types(aws_sdk_cloudwatch::types::AlarmType::CompositeAlarm)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_objective_becomes_burn_rate_alarms_and_composites_then_writes_nothing_and_leaves_in_order()
 {
    let f = Fixture::new("slo", REGION).await;
    let spec = slo_spec(
        &f,
        "{availability: 99.9, latency: {thresholdMs: 800, objective: 99}}",
    );
    let (report, status, calls) = f.reconcile(&spec).await;
    assert!(
        report.plan.blockers.is_empty(),
        "{:?}",
        report.plan.blockers
    );
    // The runbook's latency alarms, 12 metric alarms of the tiers, then 3 composites.
    let written = writes(&calls);
    assert_eq!(
        written.iter().filter(|w| **w == "PutMetricAlarm").count(),
        14,
        "{written:?}"
    );
    assert_eq!(&written[14..], ["PutCompositeAlarm"; 3]);
    assert_eq!(
        support::condition(&status, "Objective"),
        (
            "True",
            "Updated",
            support::condition(&status, "Objective").2
        )
    );
    let objective = status.objective.as_ref().unwrap();
    let states: Vec<&str> = objective.tiers.iter().map(|t| t.state.as_str()).collect();
    assert_eq!(states, ["INSUFFICIENT_DATA"; 3]);
    assert!(
        status
            .monthly_cost
            .as_deref()
            .unwrap()
            .starts_with("$3.50 a month (17 alarm(s) $3.50"),
        "2 latency alarms $0.20, 6 math alarms of 2 metrics $1.20, 6 latency $0.60, 3 composites $1.50: {:?}",
        status.monthly_cost
    );
    // What AWS has: the composites' rules and suppressors, the math and the M of N.
    let out = objective_alarms(&f).await;
    assert_eq!(out.metric_alarms().len(), 12);
    let composites = out.composite_alarms();
    assert_eq!(composites.len(), 3);
    let tier2 = composites
        .iter()
        .find(|c| c.alarm_name() == Some(&f.alarm_name("slo2")))
        .unwrap();
    assert_eq!(
        tier2.actions_suppressor(),
        Some(f.alarm_name("slo1").as_str())
    );
    assert_eq!(
        tier2.alarm_actions(),
        [format!("arn:aws:sns:{REGION}:123456789012:oncall")]
    );
    assert!(tier2.alarm_rule().unwrap().contains(&format!(
        "ALARM(\"{}\")",
        f.alarm_name("slo2-latency-short")
    )));
    let long = out
        .metric_alarms()
        .iter()
        .find(|a| a.alarm_name() == Some(&f.alarm_name("slo1-errors-long")))
        .unwrap();
    assert_eq!(long.threshold(), Some(0.0144));
    assert_eq!(
        long.metrics()[2].expression(),
        Some("IF(requests >= 100, errors / requests, 0)")
    );
    // No count alarm: the objective replaces it.
    assert!(!f.alarms().await.contains_key(&f.alarm_name("5xx")));

    // In sync: nothing written.
    let (report, status, calls) = f.reconcile(&spec).await;
    assert_eq!(
        writes(&calls),
        Vec::<&str>::new(),
        "{:#?}",
        report.plan.actions
    );
    assert_eq!(support::condition(&status, "Objective").1, "InSync");

    // A tier in ALARM shows in status.
    f.cw()
        .set_alarm_state()
        .alarm_name(f.alarm_name("slo1"))
        .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
        .state_reason("test")
        .send()
        .await
        .unwrap();
    let (_, status, _) = f.reconcile(&spec).await;
    let tiers = &status.objective.as_ref().unwrap().tiers;
    assert_eq!(tiers[0].state, "ALARM");
    assert!(
        status
            .alarms
            .iter()
            .any(|a| a.name == f.alarm_name("slo1") && a.state == "ALARM"),
        "{:?}",
        status.alarms
    );

    // Dropping the latency objective: composites rewritten first, then their latency alarms
    // deleted; dropping the objective: composites one a call, slowest first, then the rest.
    let spec = slo_spec(&f, "{availability: 99.9}");
    let (report, _, calls) = f.reconcile(&spec).await;
    assert_eq!(
        writes(&calls),
        [
            "PutCompositeAlarm",
            "PutCompositeAlarm",
            "PutCompositeAlarm",
            "DeleteAlarms"
        ],
        "{:#?}",
        report.plan.actions
    );
    let mut spec = slo_spec(&f, "{availability: 99.9}");
    spec.controls.slo = None;
    let (report, _, calls) = f.reconcile(&spec).await;
    let deletes: Vec<&apigw_guard::core::plan::Action> = report
        .plan
        .actions
        .iter()
        .filter(|a| matches!(a, apigw_guard::core::plan::Action::DeleteAlarms { .. }))
        .collect();
    let names: Vec<String> = deletes.iter().map(|a| a.to_string()).collect();
    assert_eq!(
        names,
        [
            format!("delete-alarms {}", f.alarm_name("slo3")),
            format!("delete-alarms {}", f.alarm_name("slo2")),
            format!("delete-alarms {}", f.alarm_name("slo1")),
            format!(
                "delete-alarms {}",
                ["1", "2", "3"]
                    .iter()
                    .flat_map(|t| ["errors-long", "errors-short"]
                        .map(|part| f.alarm_name(&format!("slo{t}-{part}"))))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        ]
    );
    assert!(
        report.outcomes.iter().all(|o| o.result.is_ok()),
        "{:#?}",
        report.outcomes
    );
    // The count alarm comes back without the objective.
    assert!(writes(&calls).contains(&"PutMetricAlarm"));
    let left = objective_alarms(&f).await;
    assert!(left.metric_alarms().is_empty() && left.composite_alarms().is_empty());
}

/// Points the stage at a new deployment of its API (CreateDeployment), as a pipeline does;
/// returns the deployment's id.
async fn deploy(f: &Fixture) -> String {
    support::deploy(&f.config, &f.api_id, "prod").await
}

/// Puts the stage's requests and 5XX errors, timestamped now: inside the window of the
/// deployment just made.
async fn put_traffic_now(f: &Fixture, requests: f64, errors: f64) {
    let figures = [("Count", requests), ("5XXError", errors)];
    support::put_metrics_now(&f.config, ("ApiName", &f.api_name), &figures).await;
}

#[tokio::test]
async fn a_deployment_that_regresses_is_rolled_back_once_and_off_writes_nothing() {
    use apigw_guard::core::deploys::{BASELINE, REGRESSED, ROLLED_BACK, VERIFYING};
    let f = Fixture::new("deploys", REGION).await;
    let first = f.stage().await.deployment_id().unwrap().to_owned();
    let yaml = |rollback: &str| -> ApiGatewayGuardSpec {
        serde_yaml::from_str(&format!(
            "restApi: {{name: {}}}\nstage: prod\ndeployments: {{verifyFor: 30m, rollback: {rollback}}}\n",
            f.api_name
        ))
        .unwrap()
    };
    let spec = yaml("Auto");
    let own = (&f.calls, &f.apigateway, &f.cloudwatch, &f.guard);
    let verify = |report, previous| verified(own, &spec, report, previous);
    // The deployment found first is the baseline; nothing is read or written for it.
    let (report, _, _) = f.reconcile(&spec).await;
    let (found, calls) = verify(report, None).await;
    assert_eq!(
        (found.status.id.as_str(), found.status.verdict.as_str()),
        (first.as_str(), BASELINE)
    );
    assert!(calls.is_empty(), "{calls:?}");

    // A pipeline deploys; the next look opens a window.
    let second = deploy(&f).await;
    let (report, _, _) = f.reconcile(&spec).await;
    let (opened, _) = verify(report, Some(found.status.clone())).await;
    assert_eq!(opened.status.verdict, VERIFYING, "{:?}", opened.status);
    assert_eq!(opened.status.previous_id.as_deref(), Some(first.as_str()));
    assert!(opened.rollback.is_none());

    // Half the requests fail since the deployment, none before: rolled back to the first.
    put_traffic_now(&f, 100.0, 50.0).await;
    let (report, _, _) = f.reconcile(&spec).await;
    let (rolled, calls) = verify(report, Some(opened.status.clone())).await;
    assert_eq!(writes(&calls), ["UpdateStage"], "{:?}", rolled.status);
    assert_eq!(rolled.status.verdict, ROLLED_BACK);
    assert_eq!(rolled.status.regressed, std::slice::from_ref(&second));
    assert!(
        rolled.status.message.starts_with(&format!(
            "rolled back from {second} to {first}: 5XX share 50.00 %"
        )),
        "{}",
        rolled.status.message
    );
    assert_eq!(f.stage().await.deployment_id(), Some(first.as_str()));
    // The stage serves the first again: not a new deployment, nothing more written.
    let (report, _, _) = f.reconcile(&spec).await;
    let (after, calls) = verify(report, Some(rolled.status.clone())).await;
    assert_eq!(after.status.verdict, ROLLED_BACK);
    assert_eq!(writes(&calls), Vec::<&str>::new());

    // With rollback Off a regression is reported and the stage left on it. A second on, so
    // the figures above (in whole seconds) are this deployment's baseline, never its window.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let third = deploy(&f).await;
    let off = yaml("Off");
    let (report, _, _) = f.reconcile(&off).await;
    let (opened, _) = verified(own, &off, report, Some(after.status.clone())).await;
    // Slower than anything before it (the baseline's 50 % 5XX share is no contrast for 5XX).
    let slow = [("Count", 100.0), ("Latency", 5000.0)];
    support::put_metrics_now(&f.config, ("ApiName", &f.api_name), &slow).await;
    let (report, _, _) = f.reconcile(&off).await;
    let (reported, made) = verified(own, &off, report.clone(), Some(opened.status.clone())).await;
    assert_eq!(writes(&made), Vec::<&str>::new());
    assert_eq!(
        (
            reported.status.id.as_str(),
            reported.status.verdict.as_str()
        ),
        (third.as_str(), REGRESSED)
    );
    assert!(
        reported
            .status
            .message
            .contains("not rolled back: rollback is Off"),
        "{}",
        reported.status.message
    );
    assert_eq!(f.stage().await.deployment_id(), Some(third.as_str()));
    let status = status::build(
        &off,
        Some(1),
        &Report {
            deployment: Some(reported),
            ..report
        },
        None,
        "now",
    );
    assert_eq!(support::condition(&status, "DeploymentVerified").0, "False");
    assert_eq!(
        support::condition(&status, "DeploymentVerified").1,
        "Regressed"
    );
}

/// The window starts when the deployment was made, not when the stage last changed: a
/// pipeline that sets a stage variable after the deploy (before the operator first looks)
/// does not make the deploy's first errors its baseline.
#[tokio::test]
async fn a_window_starts_at_the_deployment_however_the_stage_changed_after_it() {
    use apigw_guard::core::deploys::{REGRESSED, VERIFYING, epoch};
    use apigw_guard::reconcile::verify_deployment;
    let f = Fixture::new("deploy-then-vars", REGION).await;
    let spec: ApiGatewayGuardSpec = serde_yaml::from_str(&format!(
        "restApi: {{name: {}}}\nstage: prod\ndeployments: {{rollback: \"Off\"}}\n",
        f.api_name
    ))
    .unwrap();
    let (report, _, _) = f.reconcile(&spec).await;
    let verify = |report, previous: Option<apigw_guard::core::crd::DeploymentStatus>| {
        let (f, spec) = (&f, &spec);
        async move {
            let verified = verify_deployment(
                &f.apigateway,
                &f.cloudwatch,
                spec,
                &report,
                previous.as_ref(),
                Mode::Apply,
            );
            Box::pin(verified).await.unwrap().status
        }
    };
    let baseline = verify(report, None).await;
    let deployed = deploy(&f).await;
    let made = f
        .apigw()
        .get_deployment()
        .rest_api_id(&f.api_id)
        .deployment_id(&deployed)
        .send()
        .await
        .unwrap()
        .created_date()
        .unwrap()
        .secs();
    // Half the requests fail from the deploy on; then, seconds later, a stage variable.
    put_traffic_now(&f, 100.0, 50.0).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let vars = aws_sdk_apigateway::types::PatchOperation::builder()
        .op(aws_sdk_apigateway::types::Op::Replace)
        .path("/variables/feature")
        .value("on")
        .build();
    let updated = f
        .apigw()
        .update_stage()
        .rest_api_id(&f.api_id)
        .stage_name("prod")
        .patch_operations(vars)
        .send()
        .await
        .unwrap();
    assert!(updated.last_updated_date().unwrap().secs() > made);
    let (report, _, _) = f.reconcile(&spec).await;
    let judged = verify(report, Some(baseline)).await;
    assert_eq!(judged.id, deployed);
    assert_eq!(epoch(&judged.since), Some(made), "{judged:?}");
    assert_ne!(judged.verdict, VERIFYING, "{judged:?}");
    assert_eq!(judged.verdict, REGRESSED, "{}", judged.message);
    assert!(
        judged.message.contains("5XX share 50.00 %"),
        "{}",
        judged.message
    );
}

/// A REST stage's access logs turned off go in its one UpdateStage with whatever else changes
/// (`remove /accessLogSettings` beside the other operations): each UpdateStage counts
/// against the account's 10 requests a second.
#[tokio::test]
async fn a_rest_stages_access_logs_go_off_in_its_one_update_stage() {
    let f = Fixture::new("rest-logs-off", REGION).await;
    support::set_log_role(&f.config).await;
    let spec = |rest: &str| -> ApiGatewayGuardSpec {
        serde_yaml::from_str(&format!(
            "restApi: {{name: {}}}\nstage: prod\n{rest}",
            f.api_name
        ))
        .unwrap()
    };
    let (_, status, _) = f.reconcile(&spec("accessLogging: {}\n")).await;
    assert_eq!(
        support::condition(&status, "AccessLogging").0,
        "True",
        "{status:?}"
    );
    assert!(f.stage().await.access_log_settings().is_some());

    let off = spec("accessLogging: {enabled: false}\ntracing: {enabled: true}\n");
    let (report, status, calls) = f.reconcile(&off).await;
    assert_eq!(
        writes(&calls),
        ["UpdateStage"],
        "{:#?}",
        report.plan.actions
    );
    assert!(
        report.outcomes.iter().all(|o| o.result.is_ok()),
        "{:?}",
        report.outcomes
    );
    assert_eq!(support::condition(&status, "Ready").0, "True", "{status:?}");
    let stage = f.stage().await;
    assert!(stage.tracing_enabled());
    assert!(
        stage
            .access_log_settings()
            .is_none_or(|s| s.destination_arn().is_none()),
        "{:?}",
        stage.access_log_settings()
    );
    let (_, _, again) = f.reconcile(&off).await;
    assert_eq!(writes(&again), Vec::<&str>::new());
}

/// Against a local AWS that refuses what AWS refuses (scripts/conformance.py): a REST API
/// whose name has non-ASCII characters, or none left, and one with a 1,000-character name
/// are guarded with every alarm, the objective and the dashboard, each alarm on the ApiName
/// API Gateway publishes (issue 32: before, the dimensions and descriptions were refused).
#[tokio::test]
async fn apis_of_any_name_are_guarded_on_the_name_api_gateway_publishes() {
    let config = support::config(REGION).await;
    let long = format!("long-{}", "n".repeat(995));
    for (name, published) in [
        ("zahlungs-api-grün", "zahlungs-api-grn".to_owned()),
        ("支付接口", String::new()),
        (long.as_str(), long.clone()),
    ] {
        let api_id = support::seed_api(&config, name, "prod").await;
        let published = match published.is_empty() {
            true => api_id.clone(),
            false => published,
        };
        let (_, apigateway, cloudwatch, guard) =
            http_guard(&config, &format!("named-{}", api_id.to_lowercase())).await;
        let spec: ApiGatewayGuardSpec = serde_yaml::from_str(&format!(
            "restApi: {{id: {api_id}}}\nstage: prod\nalarms: {{}}\ndashboard: {{}}\nslo: {{availability: 99.9, countAlarm: true, latency: {{thresholdMs: 1000, objective: 99}}}}\n"
        ))
        .unwrap();
        let report = Box::pin(reconcile(
            &apigateway,
            &cloudwatch,
            &guard,
            &spec,
            Mode::Apply,
        ))
        .await;
        let status = status::build(&spec, Some(1), &report, None, "now");
        assert_eq!(
            support::condition(&status, "Ready").0,
            "True",
            "{name:.40}: {:?}",
            report
                .outcomes
                .iter()
                .filter_map(|o| o.result.as_ref().err().map(|e| e.to_string()))
                .collect::<Vec<_>>()
        );
        let alarm = cloudwatch
            .describe_alarms(&[guard.alarm_name(apigw_guard::core::model::AlarmKind::Latency)])
            .await
            .unwrap()
            .remove(0)
            .config
            .unwrap();
        let dimensions = &alarm.stat().unwrap().dimensions;
        assert!(
            dimensions.contains(&("ApiName".to_owned(), published.clone())),
            "{name:.40}: {dimensions:?}"
        );
        assert!(alarm.description.chars().count() <= 1024);
    }
}

/// A deployment verification (after [`applied`]) through the same clients: what it decided,
/// and the calls it made.
async fn verified(
    (calls, apigateway, cloudwatch, _): (&CallLog, &SdkApiGateway, &SdkCloudWatch, &GuardId),
    spec: &ApiGatewayGuardSpec,
    report: Report,
    previous: Option<apigw_guard::core::crd::DeploymentStatus>,
) -> (apigw_guard::core::report::DeploymentReport, Vec<Call>) {
    let mark = calls.len();
    let verified = apigw_guard::reconcile::verify_deployment(
        apigateway,
        cloudwatch,
        spec,
        &report,
        previous.as_ref(),
        Mode::Apply,
    )
    .await
    .unwrap();
    (verified, calls.since(mark))
}

/// HTTP and WebSocket API stages are verified as REST ones are, on their kind's metrics: a
/// regressed deployment of an HTTP API stage is rolled back by UpdateStage `DeploymentId`;
/// one of a stage that deploys itself (AutoDeploy) is reported, not rolled back: AWS takes no
/// deployment id there, and the next change would deploy again.
#[tokio::test]
async fn v2_deployments_are_verified_and_rolled_back_unless_the_stage_deploys_itself() {
    use apigw_guard::core::deploys::{BASELINE, REGRESSED, ROLLED_BACK, VERIFYING};
    let config = support::config(REGION).await;
    let http = support::seed_http_api(&config, "v2-deploys-http", "prod", &["GET /a"]).await;
    let first = support::deploy_v2(&config, &http).await;
    let (calls, apigateway, cloudwatch, guard) = http_guard(&config, "v2-deploys").await;
    let own = (&calls, &apigateway, &cloudwatch, &guard);
    let spec: ApiGatewayGuardSpec = serde_yaml::from_str(
        "httpApi: {name: v2-deploys-http}\nstage: prod\ndeployments: {verifyFor: 30m, rollback: Auto}\n",
    )
    .unwrap();
    let verify = |report, previous| verified(own, &spec, report, previous);
    let (report, _, _) = applied(own, &spec).await;
    let (found, _) = verify(report, None).await;
    assert_eq!(
        (found.status.id.as_str(), found.status.verdict.as_str()),
        (first.as_str(), BASELINE)
    );
    let second = support::deploy_v2(&config, &http).await;
    let (report, _, _) = applied(own, &spec).await;
    let (opened, _) = verify(report, Some(found.status.clone())).await;
    assert_eq!(opened.status.verdict, VERIFYING, "{:?}", opened.status);
    // Half the requests fail since the deployment: its 5xx, by ApiId.
    let figures = [("Count", 100.0), ("5xx", 50.0)];
    support::put_metrics_now(&config, ("ApiId", &http), &figures).await;
    let (report, _, _) = applied(own, &spec).await;
    let (rolled, made) = verify(report, Some(opened.status.clone())).await;
    assert_eq!(writes(&made), ["UpdateStage"], "{:?}", rolled.status);
    assert_eq!(rolled.status.verdict, ROLLED_BACK);
    assert_eq!(rolled.status.regressed, std::slice::from_ref(&second));
    assert_eq!(
        support::serving_v2(&config, &http).await,
        Some(first.clone())
    );

    // A WebSocket API stage that deploys itself: judged on its errors, never pointed back.
    let socket = support::seed_websocket_api(&config, "v2-deploys-ws", "prod", &["$default"]).await;
    let spec: ApiGatewayGuardSpec = serde_yaml::from_str(
        "websocketApi: {name: v2-deploys-ws}\nstage: prod\ndeployments: {verifyFor: 30m, rollback: Auto}\n",
    )
    .unwrap();
    let verify = |report, previous| verified(own, &spec, report, previous);
    let base = support::deploy_v2(&config, &socket).await;
    let (report, _, _) = applied(own, &spec).await;
    let (found, _) = verify(report, None).await;
    assert_eq!(found.status.id, base);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let next = support::deploy_v2(&config, &socket).await;
    // From here on the stage deploys every change itself.
    aws_sdk_apigatewayv2::Client::new(&config)
        .update_stage()
        .api_id(&socket)
        .stage_name("prod")
        .auto_deploy(true)
        .send()
        .await
        .unwrap();
    let (report, _, _) = applied(own, &spec).await;
    let (opened, _) = verify(report, Some(found.status.clone())).await;
    assert_eq!(opened.status.verdict, VERIFYING, "{:?}", opened.status);
    let figures = [
        ("MessageCount", 100.0),
        ("IntegrationError", 30.0),
        ("ExecutionError", 20.0),
    ];
    support::put_metrics_now(&config, ("ApiId", &socket), &figures).await;
    let (report, _, _) = applied(own, &spec).await;
    let (judged, made) = verify(report, Some(opened.status.clone())).await;
    assert_eq!(writes(&made), Vec::<&str>::new());
    assert_eq!(judged.status.verdict, REGRESSED, "{:?}", judged.status);
    assert!(
        judged.status.message.contains("AutoDeploy"),
        "{}",
        judged.status.message
    );
    assert_eq!(support::serving_v2(&config, &socket).await, Some(next));
}
