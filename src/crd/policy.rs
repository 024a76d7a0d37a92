//! The `ApiGatewayGuardPolicy` custom resource: finds every stage matching a selector and keeps
//! one `ApiGatewayGuard` per stage, made from a template.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    AlarmsSpec, ApiGatewayGuardSpec, Condition, DashboardSpec, DeletionPolicy,
    ExecutionLoggingSpec, ResourceRef, ThrottleLimits, TracingSpec, UsagePlanThrottleSpec,
};

/// Guards every stage that matches `selector`: the operator keeps one ApiGatewayGuard per
/// matched stage in this namespace, owned by the policy and equal to `template`.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "apigw-guard.dev",
    version = "v1alpha1",
    kind = "ApiGatewayGuardPolicy",
    namespaced,
    status = "ApiGatewayGuardPolicyStatus",
    shortname = "aggp",
    doc = "Guards every API Gateway stage that matches a selector, with one ApiGatewayGuard per stage made from a template.",
    printcolumn = r#"{"name":"Matched","type":"integer","jsonPath":".status.matched"}"#,
    printcolumn = r#"{"name":"Ready","type":"integer","jsonPath":".status.ready"}"#,
    printcolumn = r#"{"name":"Skipped","type":"integer","jsonPath":".status.skipped","priority":1}"#,
    printcolumn = r#"{"name":"Conflicting","type":"integer","jsonPath":".status.conflicting","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new("size(self.metadata.name) <= 63").message(
        "metadata.name: at most 63 characters: the policy's guards carry it as a label value"
    )
)]
#[x_kube(
    validation = Rule::new("has(self.account) == has(oldSelf.account) && (!has(self.account) || self.account == oldSelf.account)")
        .message("spec.account cannot be added, changed or removed: the policy's guards act in the AWS account the policy was created with (the operator's own when it named none); delete the policy and create it anew")
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiGatewayGuardPolicySpec {
    /// AWS region of the APIs, e.g. us-east-1. Defaults to the operator's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50), regex(pattern = super::REGION_PATTERN))]
    pub region: Option<String>,
    /// The AwsAccount whose role discovery and the guards act through (see
    /// ApiGatewayGuard spec.account). Omitted: the operator's own identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub account: Option<String>,
    /// Which stages to guard.
    pub selector: StageSelector,
    /// The guard each matched stage gets: an ApiGatewayGuard spec without region, account,
    /// restApi and stage, which come from the policy and the stage.
    pub template: GuardTemplate,
}

/// Which stages a policy guards: every stage whose name matches `stages`, of every REST API
/// matching both `restApiTags` and `restApiNames`.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StageSelector {
    /// REST API tags that must all be present with these values. Omitted: any tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rest_api_tags: BTreeMap<String, String>,
    /// REST API name globs (`*` any run of characters, `?` one); one must match. Omitted:
    /// any name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(length(min = 1, max = 1024)))]
    pub rest_api_names: Vec<String>,
    /// Stage name globs, e.g. prod or live-*; one must match.
    #[schemars(length(min = 1), inner(length(min = 1, max = 128)))]
    pub stages: Vec<String>,
}

/// An ApiGatewayGuard spec without region, account, restApi and stage.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GuardTemplate {
    /// As ApiGatewayGuard spec.tracing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<TracingSpec>,
    /// As ApiGatewayGuard spec.executionLogging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_logging: Option<ExecutionLoggingSpec>,
    /// As ApiGatewayGuard spec.throttle: every matched stage must be in this usage plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<UsagePlanThrottleSpec>,
    /// As ApiGatewayGuard spec.stageThrottle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_throttle: Option<ThrottleLimits>,
    /// As ApiGatewayGuard spec.alarms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarms: Option<AlarmsSpec>,
    /// As ApiGatewayGuard spec.dashboard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard: Option<DashboardSpec>,
    /// As ApiGatewayGuard spec.deletionPolicy: what deleting a guard (its stage stopped
    /// matching, or the policy was deleted) does to its alarms.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// As ApiGatewayGuard spec.suspend.
    #[serde(default)]
    pub suspend: bool,
}

impl GuardTemplate {
    /// The spec of the guard of one stage of the REST API with id `rest_api_id`.
    pub fn guard_spec(
        &self,
        policy: &ApiGatewayGuardPolicySpec,
        rest_api_id: &str,
        stage: &str,
    ) -> ApiGatewayGuardSpec {
        ApiGatewayGuardSpec {
            region: policy.region.clone(),
            account: policy.account.clone(),
            rest_api: ResourceRef {
                name: None,
                id: Some(rest_api_id.to_owned()),
            },
            stage: stage.to_owned(),
            tracing: self.tracing.clone(),
            execution_logging: self.execution_logging.clone(),
            throttle: self.throttle.clone(),
            stage_throttle: self.stage_throttle.clone(),
            alarms: self.alarms.clone(),
            dashboard: self.dashboard.clone(),
            deletion_policy: self.deletion_policy,
            suspend: self.suspend,
        }
    }
}

/// What the policy covers, following kstatus conventions.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiGatewayGuardPolicyStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready (every guard of the policy is Ready), Reconciling and Stalled (kstatus).
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Stages that match the selector.
    #[serde(default)]
    pub matched: u32,
    /// Matched stages the policy keeps a guard for.
    #[serde(default)]
    pub guarded: u32,
    /// Of those, the guards that are Ready.
    #[serde(default)]
    pub ready: u32,
    /// Matched stages already guarded by a guard no policy owns (explicit beats policy).
    #[serde(default)]
    pub skipped: u32,
    /// Matched stages an older policy guards.
    #[serde(default)]
    pub conflicting: u32,
    /// Up to 20 stages not guarded and Ready, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_ready: Vec<StageProblem>,
}

/// A matched stage that is not guarded and Ready.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StageProblem {
    /// REST API name and stage, e.g. orders-api/prod.
    pub stage: String,
    /// The guard of the stage, when the policy keeps one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<String>,
    /// Skipped, Conflicting, or the guard's Ready reason.
    pub reason: String,
    pub message: String,
}
