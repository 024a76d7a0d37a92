//! AWS access behind small traits, one aws-sdk implementation each.
//!
//! The traits speak the operator's vocabulary (a stage's settings, an alarm's configuration),
//! not the SDK's, so `observe`/`apply` stay readable and the SDK stays at this edge.

mod apigateway;
mod calls;
mod cloudwatch;
mod config;
mod diagnostics;
mod error;
mod limits;
mod meter;
mod shared;

use std::future::Future;

pub use apigateway::SdkApiGateway;
pub use calls::{Call, CallLog};
pub use cloudwatch::SdkCloudWatch;
pub use config::{RegionalClients, SHARED_READ_WINDOW, load as load_config};
pub use diagnostics::SdkDiagnostics;
pub(crate) use error::error_chain;
pub use error::{AwsError, QUOTA_QUEUED, iam_action};
pub use limits::{Booked, Limit, Quota, RateLimits, parse_override as parse_rate_limit};
pub use shared::{SharedApiGateway, SharedCloudWatch, SharedReads};

use crate::crd::ResourceRef;

/// One JSON-patch `replace` operation of UpdateStage or UpdateUsagePlan; AWS takes every
/// value as a string.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchOp {
    pub path: String,
    pub value: String,
}

/// A REST API's identity: the id for API calls, the name for the `ApiName` alarm dimension.
#[derive(Clone, Debug, PartialEq)]
pub struct RestApi {
    pub id: String,
    pub name: String,
}

/// The stage settings the guard manages. `None` means AWS did not return the field.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StageSettings {
    pub tracing_enabled: Option<bool>,
    /// The `*/*` method settings; all `None` until `*/*` is first patched.
    pub all_methods: MethodSettings,
}

/// The `*/*` (all methods) entry of a stage's `methodSettings`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MethodSettings {
    pub logging_level: Option<String>,
    pub data_trace: Option<bool>,
    pub metrics: Option<bool>,
    pub rate_limit: Option<f64>,
    pub burst_limit: Option<i32>,
}

/// A usage plan's throttle and the API stages it serves.
#[derive(Clone, Debug, PartialEq)]
pub struct UsagePlan {
    pub id: String,
    pub rate_limit: Option<f64>,
    pub burst_limit: Option<i32>,
    /// (REST API id, stage name) pairs.
    pub api_stages: Vec<(String, String)>,
}

/// The part of a CloudWatch metric alarm the guard manages.
#[derive(Clone, Debug, PartialEq)]
pub struct AlarmConfig {
    pub name: String,
    pub description: String,
    pub namespace: String,
    pub metric_name: String,
    /// `Sum`, `Average`, ... or a percentile such as `p99` (an ExtendedStatistic).
    pub statistic: String,
    /// Sorted by name.
    pub dimensions: Vec<(String, String)>,
    pub period: i32,
    pub evaluation_periods: i32,
    pub threshold: f64,
    pub comparison: String,
    pub actions_enabled: bool,
    pub actions: Vec<String>,
    pub ok_actions: Vec<String>,
    pub treat_missing_data: String,
}

/// An alarm as DescribeAlarms returned it.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedAlarm {
    pub name: String,
    pub arn: String,
    /// `None` when AWS left out a field the guard manages, so it cannot match.
    pub config: Option<AlarmConfig>,
    /// OK, ALARM or INSUFFICIENT_DATA.
    pub state: String,
}

/// A stage as CloudWatch's `AWS/ApiGateway` dimensions name it: (ApiName, Stage).
pub type StageKey = (String, String);

/// A stage's traffic over the last window, the figures the runbook's verification reads.
/// `None` where CloudWatch has no data points (no traffic).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StageMetrics {
    /// The window, in seconds.
    pub period: i32,
    /// Sum of 5XXError.
    pub five_xx: Option<f64>,
    /// Sum of 4XXError.
    pub four_xx: Option<f64>,
    /// Sum of Count: requests.
    pub count: Option<f64>,
    /// p99 Latency, milliseconds.
    pub latency_p99: Option<f64>,
    /// p99 IntegrationLatency, milliseconds.
    pub integration_latency_p99: Option<f64>,
}

/// The account's API Gateway settings.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// The CloudWatch Logs role execution logging needs.
    pub cloudwatch_role_arn: Option<String>,
    /// The account-level throttle, requests per second.
    pub rate_limit: Option<f64>,
    pub burst_limit: Option<i32>,
}

/// One method's integration, as GetResources returns it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MethodIntegration {
    pub path: String,
    pub method: String,
    /// AWS, AWS_PROXY, HTTP, HTTP_PROXY or MOCK.
    #[serde(rename = "type")]
    pub kind: String,
    pub uri: Option<String>,
    /// The integration timeout (API Gateway's default is 29,000 ms).
    pub timeout_ms: Option<i32>,
    /// Set when the backend is reached through a VPC link: its id, or "" when AWS did not say.
    pub vpc_link: Option<String>,
}

impl MethodIntegration {
    /// How long API Gateway waits for this backend: the method's own timeout, or the default.
    pub fn timeout(&self) -> std::time::Duration {
        let ms = self.timeout_ms.and_then(|ms| u64::try_from(ms).ok());
        std::time::Duration::from_millis(
            ms.unwrap_or(crate::runbook::INTEGRATION_TIMEOUT_MS as u64),
        )
    }
}

/// Log events matching one pattern.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct LogMatches {
    pub count: usize,
    /// The newest few messages.
    pub latest: Vec<String>,
}

/// A Lambda function's health as GetFunction reports it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LambdaFunction {
    pub name: String,
    /// Pending, Active, Inactive or Failed.
    pub state: Option<String>,
    pub state_reason: Option<String>,
    pub timeout_seconds: Option<i32>,
}

/// A tag as key and value.
pub type Tag = (String, String);

/// The API Gateway calls the operator makes.
pub trait ApiGateway: Send + Sync {
    /// Resolves a REST API by id (GetRestApi) or by unique name (GetRestApis, paged).
    fn find_rest_api(
        &self,
        by: &ResourceRef,
    ) -> impl Future<Output = Result<RestApi, AwsError>> + Send;
    /// GetStage.
    fn get_stage(
        &self,
        api_id: &str,
        stage: &str,
    ) -> impl Future<Output = Result<StageSettings, AwsError>> + Send;
    /// UpdateStage with all operations in one call.
    fn update_stage(
        &self,
        api_id: &str,
        stage: &str,
        ops: &[PatchOp],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Resolves a usage plan by id (GetUsagePlan) or by unique name (GetUsagePlans, paged).
    fn find_usage_plan(
        &self,
        by: &ResourceRef,
    ) -> impl Future<Output = Result<UsagePlan, AwsError>> + Send;
    /// UpdateUsagePlan with all operations in one call.
    fn update_usage_plan(
        &self,
        id: &str,
        ops: &[PatchOp],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// GetAccount's `cloudwatchRoleArn`, which execution logging requires.
    fn cloudwatch_role_arn(&self) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;
}

/// The CloudWatch calls the operator makes.
pub trait CloudWatch: Send + Sync {
    /// DescribeAlarms by name (up to 100 names a call).
    fn describe_alarms(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<ObservedAlarm>, AwsError>> + Send;
    /// ListTagsForResource.
    fn list_tags(&self, arn: &str) -> impl Future<Output = Result<Vec<Tag>, AwsError>> + Send;
    /// PutMetricAlarm. `tags` only take effect when it creates the alarm.
    fn put_alarm(
        &self,
        alarm: &AlarmConfig,
        tags: &[Tag],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// TagResource.
    fn tag_alarm(
        &self,
        arn: &str,
        tags: &[Tag],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// DeleteAlarms.
    fn delete_alarms(&self, names: &[String]) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// The stage's metrics over the last window (GetMetricData).
    fn stage_metrics(
        &self,
        api_name: &str,
        stage: &str,
    ) -> impl Future<Output = Result<StageMetrics, AwsError>> + Send;
    /// Drops what is kept about these alarms, so their next read asks AWS; true when
    /// anything could have been kept (a client that keeps nothing reads AWS every time).
    fn forget(&self, _names: &[String]) -> bool {
        false
    }
}
