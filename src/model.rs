//! The AWS-facing vocabulary: what the operator observes in AWS and what it wants there, the
//! errors AWS answers with and how they are classified, and which alarms a guard owns.
//!
//! It depends on nothing but `crd`, so the pure layers (`plan`, `runbook`) and the SDK
//! adapters (`aws`) share it without knowing each other: `aws` turns SDK types into these and
//! back.

mod error;
mod ownership;

pub use error::{AwsError, QUOTA_QUEUED, error_chain, iam_action};
pub use ownership::{ALARM_PREFIX, AlarmKind, GuardId, MANAGED_BY_TAG, OWNER_TAG};

/// Whose credentials AWS calls go with.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Identity {
    /// The operator's own (IRSA in a cluster, the SDK's default chain in the CLI).
    Own,
    /// A role assumed with STS AssumeRole from the operator's own identity.
    Role {
        arn: String,
        external_id: Option<String>,
    },
}

impl Identity {
    /// The account a role's ARN names; `None` for the operator's own identity, whose account
    /// only STS can tell.
    pub fn arn_account(&self) -> Option<&str> {
        match self {
            Identity::Own => None,
            Identity::Role { arn, .. } => Some(arn.split(':').nth(4).unwrap_or(arn)),
        }
    }
}

/// One JSON-patch `replace` operation of UpdateStage or UpdateUsagePlan; AWS takes every
/// value as a string.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchOp {
    pub path: String,
    pub value: String,
}

/// A REST API's identity: the id for API calls, the name for the `ApiName` alarm dimension,
/// and its tags, which tenancy rules read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RestApi {
    pub id: String,
    pub name: String,
    pub tags: std::collections::BTreeMap<String, String>,
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

/// What API Gateway's execution log writes last for each request, the status following it.
pub const COMPLETED: &str = "Method completed with status: ";

/// The worst minute of a window, per figure: short episodes that a window's totals dilute.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MinutePeaks {
    /// The busiest minute's requests per second.
    pub rate: Option<f64>,
    /// The slowest minute's p99 IntegrationLatency, milliseconds.
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

/// The guard's CloudWatch dashboard as AWS has it.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedDashboard {
    /// Its body (JSON); `None` when no dashboard has the guard's dashboard name.
    pub body: Option<String>,
    /// The account the alarms live in, for their ARNs; read only when a dashboard is wanted.
    pub account_id: Option<String>,
    /// The dashboard's first name, when a dashboard of that name is marked as this guard's:
    /// looked for only while the dashboard is missing under today's name.
    pub legacy: Option<String>,
}

/// What AWS has for one guard, as `observe` read it.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    pub rest_api: RestApi,
    pub stage: StageSettings,
    /// Read only when the spec manages a usage-plan throttle; a failed lookup stays here so
    /// the other controls still go ahead.
    pub usage_plan: Option<Result<UsagePlan, AwsError>>,
    /// GetAccount's CloudWatch Logs role; read only when the spec asks for execution logs.
    pub cloudwatch_role_arn: Option<String>,
    /// The guard's alarms that exist, by name, with their tags: `None` when not read. Tags
    /// are read (fresh) only before a write to the guard's alarms, since only a write needs
    /// to know who owns an alarm.
    pub alarms: Vec<(ObservedAlarm, Option<Vec<Tag>>)>,
    /// The region the guard's calls go to.
    pub region: String,
    /// Read only when the spec manages a dashboard; a failed read stays here so the other
    /// controls still go ahead.
    pub dashboard: Option<Result<ObservedDashboard, AwsError>>,
}
