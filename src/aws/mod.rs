//! AWS access behind small traits, one aws-sdk implementation each.
//!
//! The traits speak the operator's vocabulary (`crate::core::model`: a stage's settings, an alarm's
//! configuration), not the SDK's, so `observe`/`apply` stay readable and the SDK stays at this
//! edge.

mod apigateway;
mod apigatewayv2;
mod calls;
mod cloudwatch;
mod config;
mod diagnostics;
mod error;
mod limits;
mod logs;
mod meter;
mod shared;

use std::future::Future;

pub use apigateway::SdkApiGateway;
pub use calls::{Call, CallLog};
pub use cloudwatch::{SdkCloudWatch, now_secs};
pub use config::{
    AwsArgs, OWN_ACCOUNT_UNKNOWN, RegionalClients, SESSION_NAME, SHARED_READ_WINDOW,
    load as load_config,
};
pub use diagnostics::SdkDiagnostics;
pub use limits::{Booked, Limit, Quota, RateLimits, parse_override as parse_rate_limit};
pub use shared::{SharedApiGateway, SharedCloudWatch, SharedReads};

use crate::core::crd::ResourceRef;
use crate::core::model::{
    AlarmConfig, ApiKind, AwsError, GuardedApi, ObjectiveMetrics, ObservedAlarm, ObservedLogGroup,
    PatchOp, StageKey, StageMetrics, StageSettings, Tag, UsagePlan,
};

/// The API Gateway calls the operator makes, for REST APIs (v1) and HTTP APIs (v2) alike:
/// `kind` picks the service.
pub trait ApiGateway: Send + Sync {
    /// Resolves an API by id (GetRestApi, GetApi) or by unique name (GetRestApis, GetApis,
    /// paged). An HTTP API is one whose ProtocolType is HTTP (WebSocket APIs are not).
    fn find_api(
        &self,
        kind: ApiKind,
        by: &ResourceRef,
    ) -> impl Future<Output = Result<GuardedApi, AwsError>> + Send;
    /// Every API of the kind in the region, with its tags (GetRestApis, GetApis; paged).
    fn list_apis(
        &self,
        kind: ApiKind,
    ) -> impl Future<Output = Result<Vec<GuardedApi>, AwsError>> + Send;
    /// The names of one API's stages (GetStages).
    fn stage_names(
        &self,
        kind: ApiKind,
        api_id: &str,
    ) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;
    /// GetRestApi or GetApi: always asks AWS, for tags that must be current (tenancy before a
    /// write).
    fn get_api(
        &self,
        kind: ApiKind,
        id: &str,
    ) -> impl Future<Output = Result<GuardedApi, AwsError>> + Send;
    /// GetStage.
    fn get_stage(
        &self,
        kind: ApiKind,
        api_id: &str,
        stage: &str,
    ) -> impl Future<Output = Result<StageSettings, AwsError>> + Send;
    /// UpdateStage with all operations in one call. REST: each op a JSON-patch replace. HTTP:
    /// the ops' paths name the request's fields (`/defaultRouteSettings/throttlingRateLimit`,
    /// `/routeSettings/GET /pets/throttlingBurstLimit`, `/accessLogSettings/format`), each
    /// changing only what it names.
    fn update_stage(
        &self,
        kind: ApiKind,
        api_id: &str,
        stage: &str,
        ops: &[PatchOp],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Points a stage back at an earlier deployment (UpdateStage `/deploymentId`, or a v2
    /// stage's `DeploymentId`), ahead of every call waiting for the account's API Gateway
    /// quota: a rollback does not queue behind reads.
    fn roll_back_stage(
        &self,
        kind: ApiKind,
        api_id: &str,
        stage: &str,
        deployment_id: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// An HTTP API's route keys (GetRoutes, paged): what a route throttle may name. Shared
    /// clients keep them longer than a listing (routes change when a team edits them).
    fn route_keys(
        &self,
        api_id: &str,
    ) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;
    /// Drops route keys kept longer than a sharing window, so their next read asks AWS: true
    /// when any were dropped. Asked before an UpdateStage names a route.
    fn forget_route_keys(&self, _api_id: &str) -> bool {
        false
    }
    /// When a deployment was made (GetDeployment's createdDate, epoch seconds).
    fn deployment_made(
        &self,
        kind: ApiKind,
        api_id: &str,
        deployment_id: &str,
    ) -> impl Future<Output = Result<Option<i64>, AwsError>> + Send;
    /// Turns an HTTP API stage's access logs off (DeleteAccessLogSettings: no UpdateStage can).
    /// A REST stage's go in its one UpdateStage (`remove /accessLogSettings`).
    fn disable_access_logs(
        &self,
        api_id: &str,
        stage: &str,
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
    /// An alarm's tags when they are known without asking AWS.
    fn kept_tags(&self, _arn: &str) -> Option<Vec<Tag>> {
        None
    }
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
    /// The stage's metrics over the last window (GetMetricData), in its API kind's metric
    /// names and dimensions.
    fn stage_metrics(
        &self,
        stage: &StageKey,
    ) -> impl Future<Output = Result<StageMetrics, AwsError>> + Send;
    /// A stage's errors and requests over an objective's window of `window_days`, and over
    /// the latest full hour (GetMetricData of hourly sums). `None`: not read yet; shared
    /// clients read a stage new since their last read with the next one.
    fn objective_metrics(
        &self,
        stage: &StageKey,
        window_days: i32,
    ) -> impl Future<Output = Result<Option<ObjectiveMetrics>, AwsError>> + Send;
    /// A stage's metrics over two back-to-back spans of `length` seconds from `start`: the
    /// minutes before a deployment and those since (one GetMetricData). (before, since)
    fn deployment_metrics(
        &self,
        stage: &StageKey,
        start: i64,
        length: i64,
    ) -> impl Future<Output = Result<(StageMetrics, StageMetrics), AwsError>> + Send;
    /// The region the calls go to (for ARNs and console links).
    fn region(&self) -> &str;
    /// The account the calls act in (STS GetCallerIdentity), for alarm ARNs.
    fn account_id(&self) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// GetDashboard's body; `None` when no dashboard has the name. Shared clients answer the
    /// operator's dashboards from a listing (ListDashboards) and the bodies read when each was
    /// last modified, up to one window old.
    fn get_dashboard(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;
    /// PutDashboard: creates the dashboard or replaces its body.
    fn put_dashboard(
        &self,
        name: &str,
        body: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// DeleteDashboards; a dashboard already gone is not an error.
    fn delete_dashboards(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Drops what is kept about these dashboards, so their next read asks AWS (GetDashboard);
    /// true when anything could have been kept.
    fn forget_dashboards(&self, _names: &[String]) -> bool {
        false
    }
    /// The log group of this name as AWS has it now, tags included (DescribeLogGroups by
    /// prefix, then ListTagsForResource when it exists), with the ARN it has or would have in
    /// this account and region: what decides whether the guard owns it.
    fn log_group(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<ObservedLogGroup, AwsError>> + Send;
    /// The log group of this name for a reconcile to compare: shared clients answer from a
    /// listing up to one window old, with tags only when kept (`LogGroup::tags` `None`
    /// otherwise). Read [`Self::log_group`] before writing to it.
    fn listed_log_group(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<ObservedLogGroup, AwsError>> + Send {
        self.log_group(name)
    }
    /// Drops what is kept about this log group, so its next read asks AWS; true when anything
    /// could have been kept.
    fn forget_log_group(&self, _name: &str) -> bool {
        false
    }
    /// CreateLogGroup with the tags, then PutRetentionPolicy.
    fn create_log_group(
        &self,
        name: &str,
        retention_days: i32,
        tags: &[Tag],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// PutRetentionPolicy.
    fn put_retention(
        &self,
        name: &str,
        retention_days: i32,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// DeleteLogGroup; a group already gone is not an error.
    fn delete_log_group(&self, name: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Drops what is kept about these alarms, so their next read asks AWS; true when
    /// anything could have been kept (a client that keeps nothing reads AWS every time).
    fn forget(&self, _names: &[String]) -> bool {
        false
    }
}
