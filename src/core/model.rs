//! The AWS-facing vocabulary: what the operator observes in AWS and what it wants there, the
//! errors AWS answers with and how they are classified, and which alarms a guard owns.
//!
//! It depends on nothing but `crd`, so the pure layers (`plan`, `runbook`) and the SDK
//! adapters (`aws`) share it without knowing each other: `aws` turns SDK types into these and
//! back.

mod error;
mod ownership;

pub use crate::core::crd::ApiKind;
use crate::core::kind::ApiDimension;

pub use error::{AwsError, QUOTA_QUEUED, error_chain, iam_action};
pub use ownership::{ALARM_PREFIX, AlarmKind, GuardId, MANAGED_BY_TAG, OWNER_TAG, ObjectivePart};

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

/// One JSON-patch operation of UpdateStage or UpdateUsagePlan: a `replace` (AWS takes every
/// value as a string), or a `remove` of `path` (its value empty).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PatchOp {
    pub path: String,
    pub value: String,
    pub remove: bool,
}

/// An API's identity: its kind, the id for API calls (and an HTTP API's `ApiId` alarm
/// dimension), the name for a REST API's `ApiName` alarm dimension, and its tags, which
/// tenancy rules read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GuardedApi {
    pub kind: ApiKind,
    pub id: String,
    pub name: String,
    pub tags: std::collections::BTreeMap<String, String>,
}

impl GuardedApi {
    /// The `AWS/ApiGateway` dimensions of one of its stages, sorted by name: a REST API's
    /// metrics are named by the API's name, an HTTP API's by its id.
    pub fn dimensions(&self, stage: &str) -> Vec<(String, String)> {
        let api = (
            self.kind.profile().api_dimension.name().to_owned(),
            self.dimension_value(),
        );
        let mut dimensions = vec![api, ("Stage".to_owned(), stage.to_owned())];
        dimensions.sort();
        dimensions
    }

    /// The value of the dimension naming the API in its kind's metrics.
    fn dimension_value(&self) -> String {
        match self.kind.profile().api_dimension {
            ApiDimension::PublishedName => self.published_name(),
            ApiDimension::Id => self.id.clone(),
        }
    }

    /// A REST API's `ApiName` dimension as API Gateway publishes it: the name without its
    /// non-ASCII characters, or the API's id when none are left (API Gateway's metrics
    /// documentation). An alarm or a query on the name as written would watch a metric no one
    /// publishes: `zahlungs-api-grün` is published as `zahlungs-api-grn`.
    pub fn published_name(&self) -> String {
        let ascii: String = self.name.chars().filter(char::is_ascii).collect();
        match ascii.is_empty() {
            true => self.id.clone(),
            false => ascii,
        }
    }

    /// The API's name as an alarm's description shows it: a long one (names may be 1,024
    /// characters) shortened in the middle, so the description keeps what fired and where to
    /// look within AWS's limit.
    pub fn shown_name(&self) -> String {
        const KEEP: usize = 200;
        let chars: Vec<char> = self.name.chars().collect();
        match chars.len() > KEEP {
            false => self.name.clone(),
            true => {
                let head: String = chars[..150].iter().collect();
                let tail: String = chars[chars.len() - 49..].iter().collect();
                format!("{head}…{tail}")
            }
        }
    }

    /// The stage as CloudWatch's metrics name it.
    pub fn metric_stage(&self, stage: &str) -> StageKey {
        StageKey {
            kind: self.kind,
            api: self.dimension_value(),
            stage: stage.to_owned(),
        }
    }
}

/// The stage settings the guard manages. `None` means AWS did not return the field.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StageSettings {
    pub tracing_enabled: Option<bool>,
    /// The `*/*` method settings (REST), or the default route settings (HTTP); all `None`
    /// until first set.
    pub all_methods: MethodSettings,
    /// An HTTP API stage's settings of single routes, by route key.
    pub routes: std::collections::BTreeMap<String, MethodSettings>,
    /// Where the stage's access logs go, when it writes any.
    pub access_log: Option<AccessLog>,
    /// The deployment the stage serves (REST APIs).
    pub deployment: Option<StageDeployment>,
}

/// The deployment a REST API stage serves, and its canary.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StageDeployment {
    pub id: String,
    /// When the stage last changed (its lastUpdatedDate), epoch seconds: a new deployment
    /// took effect no later than this.
    pub updated_at: Option<i64>,
    /// The canary release on the stage, when one is active.
    pub canary: Option<Canary>,
    /// Whether the stage deploys every change itself (an HTTP or WebSocket API stage's
    /// AutoDeploy): AWS refuses to point it at a deployment, and the next change would deploy
    /// again anyway, so it is verified but never rolled back.
    pub auto_deploy: bool,
}

/// A stage's canary release: the deployment it serves and its share of the traffic.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Canary {
    pub deployment_id: Option<String>,
    pub percent_traffic: f64,
}

/// A stage's access log settings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AccessLog {
    /// The log group's ARN (AWS keeps it as given, with or without DescribeLogGroups' `:*`).
    pub destination_arn: String,
    pub format: String,
}

/// The ARN partition of a region: China's and GovCloud's have their own.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The log group a guard's access logs go to unless its spec names one:
/// `/aws/apigateway/apigw-guard/<api-id>/<stage>`. Log group names take no `$`, so the
/// HTTP API stage `$default` is `_default` here.
pub fn access_log_group_name(api_id: &str, stage: &str) -> String {
    format!(
        "/aws/apigateway/apigw-guard/{api_id}/{}",
        stage.replace('$', "_")
    )
}

/// The access log group as observe read it.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedLogGroup {
    /// The group's ARN whether or not it exists (from its name, the region and the account),
    /// without DescribeLogGroups' `:*`.
    pub arn: String,
    /// `None` when no group has the name.
    pub found: Option<LogGroup>,
}

/// A CloudWatch Logs log group as DescribeLogGroups and ListTagsForResource return it.
#[derive(Clone, Debug, PartialEq)]
pub struct LogGroup {
    pub name: String,
    /// `None`: events never expire.
    pub retention_days: Option<i32>,
    /// `None`: not read (a shared listing has no tags). Read afresh before any write that
    /// needs the group's owner.
    pub tags: Option<Vec<Tag>>,
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

/// The part of a CloudWatch alarm the guard manages: a metric alarm (on one metric or on
/// metric math) or a composite alarm over other alarms.
#[derive(Clone, Debug, PartialEq)]
pub struct AlarmConfig {
    pub name: String,
    pub description: String,
    pub actions_enabled: bool,
    pub actions: Vec<String>,
    pub ok_actions: Vec<String>,
    pub rule: AlarmRule,
}

/// When an alarm fires.
#[derive(Clone, Debug, PartialEq)]
pub enum AlarmRule {
    /// A metric alarm (PutMetricAlarm).
    Threshold(Threshold),
    /// A composite alarm (PutCompositeAlarm): `rule` over other alarms' states, its actions
    /// held back while `suppressor` is in ALARM.
    Composite {
        rule: String,
        suppressor: Option<Suppressor>,
    },
}

/// A metric alarm's metric and threshold.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    pub metric: AlarmMetric,
    pub evaluation_periods: i32,
    /// Breaching periods of `evaluation_periods` that fire it ("M of N"); `None`: all.
    pub datapoints_to_alarm: Option<i32>,
    pub threshold: f64,
    pub comparison: String,
    pub treat_missing_data: String,
}

/// What a metric alarm watches.
#[derive(Clone, Debug, PartialEq)]
pub enum AlarmMetric {
    Stat(MetricStat),
    /// Metric math: the one query with `return_data` is the alarm's.
    Math(Vec<MathQuery>),
}

/// PutMetricAlarm's and PutCompositeAlarm's limit on AlarmDescription, in characters.
pub const ALARM_DESCRIPTION_MAX: usize = 1024;

/// `text` as an AlarmDescription AWS takes: cut to [`ALARM_DESCRIPTION_MAX`] characters, the
/// last one an ellipsis, when longer. Descriptions lead with what fired and where.
pub fn alarm_description(text: String) -> String {
    match text.chars().count() > ALARM_DESCRIPTION_MAX {
        false => text,
        true => text
            .chars()
            .take(ALARM_DESCRIPTION_MAX - 1)
            .chain(std::iter::once('…'))
            .collect(),
    }
}

/// One metric's statistic per period.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricStat {
    pub namespace: String,
    pub metric_name: String,
    /// Sorted by name.
    pub dimensions: Vec<(String, String)>,
    /// `Sum`, `Average`, ... or a percentile such as `p99` (an ExtendedStatistic).
    pub statistic: String,
    pub period: i32,
}

/// One query of a metric-math alarm.
#[derive(Clone, Debug, PartialEq)]
pub struct MathQuery {
    /// Starts with a lower-case letter.
    pub id: String,
    pub query: Query,
    pub return_data: bool,
}

impl MathQuery {
    /// The queries that add up `stats` per period, the sum returned as `id`:
    /// `SUM([id_0, id_1])` over one query per stat (ids `{id}_{n}`). A series without a point
    /// in a period adds nothing, so one metric's silence does not hide another's errors. One
    /// stat is its own query, `id`.
    pub fn sum(id: &str, mut stats: Vec<MetricStat>, return_data: bool) -> Vec<MathQuery> {
        if stats.len() == 1 {
            return vec![MathQuery {
                id: id.to_owned(),
                query: Query::Stat(stats.remove(0)),
                return_data,
            }];
        }
        let parts: Vec<String> = (0..stats.len()).map(|n| format!("{id}_{n}")).collect();
        let mut queries: Vec<MathQuery> = stats
            .into_iter()
            .zip(&parts)
            .map(|(stat, part)| MathQuery {
                id: part.clone(),
                query: Query::Stat(stat),
                return_data: false,
            })
            .collect();
        queries.push(MathQuery {
            id: id.to_owned(),
            query: Query::Expression(format!("SUM([{}])", parts.join(", "))),
            return_data,
        });
        queries
    }
}

/// A metric-math query's body.
#[derive(Clone, Debug, PartialEq)]
pub enum Query {
    Stat(MetricStat),
    Expression(String),
}

/// A composite alarm's actions suppressor.
#[derive(Clone, Debug, PartialEq)]
pub struct Suppressor {
    pub alarm: String,
    /// Seconds the suppressor may take to enter ALARM after this alarm does.
    pub wait_period: i32,
    /// Seconds the suppression lasts after the suppressor leaves ALARM.
    pub extension_period: i32,
}

impl AlarmConfig {
    /// The metric a plain metric alarm watches; `None` for metric math and composites.
    pub fn stat(&self) -> Option<&MetricStat> {
        match &self.rule {
            AlarmRule::Threshold(Threshold {
                metric: AlarmMetric::Stat(stat),
                ..
            }) => Some(stat),
            _ => None,
        }
    }

    /// A metric alarm's metric and threshold; `None` for a composite.
    pub fn threshold(&self) -> Option<&Threshold> {
        match &self.rule {
            AlarmRule::Threshold(threshold) => Some(threshold),
            AlarmRule::Composite { .. } => None,
        }
    }

    /// Whether it is a composite alarm.
    pub fn is_composite(&self) -> bool {
        matches!(self.rule, AlarmRule::Composite { .. })
    }
}

impl AlarmMetric {
    /// The metrics it reads: what CloudWatch prices a metric alarm by.
    pub fn metric_count(&self) -> usize {
        match self {
            AlarmMetric::Stat(_) => 1,
            AlarmMetric::Math(queries) => queries
                .iter()
                .filter(|q| matches!(q.query, Query::Stat(_)))
                .count(),
        }
    }

    /// The metrics it reads, as status shows them: `5XXError`, or a sum's
    /// `IntegrationError + ExecutionError`.
    pub fn shown(&self) -> String {
        match self {
            AlarmMetric::Stat(stat) => stat.metric_name.clone(),
            AlarmMetric::Math(queries) => queries
                .iter()
                .filter_map(|q| match &q.query {
                    Query::Stat(stat) => Some(stat.metric_name.as_str()),
                    Query::Expression(_) => None,
                })
                .collect::<Vec<_>>()
                .join(" + "),
        }
    }

    /// The shortest period it reads, in seconds: under 60 makes a high-resolution alarm.
    pub fn period(&self) -> i32 {
        match self {
            AlarmMetric::Stat(stat) => stat.period,
            AlarmMetric::Math(queries) => queries
                .iter()
                .filter_map(|q| match &q.query {
                    Query::Stat(stat) => Some(stat.period),
                    Query::Expression(_) => None,
                })
                .min()
                .unwrap_or(60),
        }
    }
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

/// A stage as CloudWatch's `AWS/ApiGateway` dimensions name it: a REST API's stage by
/// (ApiName, Stage), an HTTP API's by (ApiId, Stage).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StageKey {
    pub kind: ApiKind,
    /// The REST API's name or the HTTP API's id.
    pub api: String,
    pub stage: String,
}

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

/// A stage's errors and requests over an objective's window, and over its latest hour: what
/// the error budget left and the burn rate are worked out from. `None` where CloudWatch has
/// no data points.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObjectiveMetrics {
    pub window_days: i32,
    pub errors: Option<f64>,
    pub requests: Option<f64>,
    pub hour_errors: Option<f64>,
    pub hour_requests: Option<f64>,
}

/// What API Gateway's execution log writes last for each request, the status following it.
pub const COMPLETED: &str = "Method completed with status: ";

/// The worst minute of a window, per figure: short episodes that a window's totals dilute.
/// Per minute while CloudWatch keeps minutes; coarser for a window older than that.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MinutePeaks {
    /// The length of the periods compared, seconds: see [`served_period`].
    pub period: i32,
    /// The busiest period's requests per second.
    pub rate: Option<f64>,
    /// The slowest period's p99 IntegrationLatency, milliseconds.
    pub integration_latency_p99: Option<f64>,
}

impl MinutePeaks {
    /// The periods compared, as a reader says them: "minute", "5 minutes", "hour".
    pub fn unit(&self) -> String {
        match self.period {
            60 => "minute".to_owned(),
            3600 => "hour".to_owned(),
            secs if secs % 60 == 0 => format!("{} minutes", secs / 60),
            secs => format!("{secs} s"),
        }
    }
}

/// A figure for people with its unit (`1234 ms`, `12.5 %`), or `no data` where CloudWatch had
/// no points for it: never a bare `-` before a unit.
pub fn figure(value: Option<impl std::fmt::Display>, unit: &str) -> String {
    value.map_or_else(|| "no data".to_owned(), |value| format!("{value}{unit}"))
}

/// Milliseconds, whole, as [`figure`] shows them.
pub fn millis(ms: Option<f64>) -> String {
    figure(ms.map(|ms| format!("{ms:.0}")), " ms")
}

/// A throttle limit, or `none` where none is set.
pub fn throttle_limit(value: Option<impl std::fmt::Display>) -> String {
    value.map_or_else(|| "none".to_owned(), |value| value.to_string())
}

/// The finest period GetMetricData serves for data `age` seconds old: CloudWatch keeps 60 s
/// points for 15 days, 300 s points for 63 days and 3,600 s points beyond; a finer period
/// there reads nothing.
pub fn served_period(age: i64) -> i32 {
    const DAY: i64 = 86_400;
    match age {
        age if age <= 15 * DAY => 60,
        age if age <= 63 * DAY => 300,
        _ => 3600,
    }
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
    pub api: GuardedApi,
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
    /// The access log group, read only when the spec keeps access logs. A failed read stays
    /// here so the other controls still go ahead.
    pub log_group: Option<Result<ObservedLogGroup, AwsError>>,
    /// An HTTP API's route keys, read only when the spec throttles routes: a route the API
    /// does not have costs only its own throttle, not the stage's whole UpdateStage.
    pub route_keys: Option<Result<Vec<String>, AwsError>>,
}
