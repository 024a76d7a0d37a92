//! The `ApiGatewayGuardPolicy` custom resource: finds every stage matching a selector and keeps
//! one `ApiGatewayGuard` per stage, made from a template.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ApiGatewayGuardSpec, ApiKind, Condition, Controls, ResourceRef};

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
        .message("spec.account cannot be added, changed or removed: the policy's guards act in the AWS account the policy was created with (the operator's own when it named none); delete the policy and create it anew"),
    // A section the selected kind has no setting for would be left out of every guard: each
    // kind's rule (crate::core::kind::Profile::template_rule) follows, added by crd::definitions.
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiGatewayGuardPolicySpec {
    /// AWS region of the APIs, e.g. us-east-1. Defaults to the operator's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50))]
    #[x_kube(validation = Rule::new(super::REGION_RULE).message(super::REGION_MESSAGE))]
    pub region: Option<String>,
    /// The AwsAccount whose role discovery and the guards act through (see
    /// ApiGatewayGuard spec.account). Omitted: the operator's own identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub account: Option<String>,
    /// Which stages to guard.
    pub selector: StageSelector,
    /// The guard each matched stage gets: an ApiGatewayGuard spec without region, account,
    /// restApi or httpApi, and stage, which come from the policy and the stage. Sections one
    /// kind of API has no setting for are left out of that kind's guards (status.leftOut).
    pub template: GuardTemplate,
}

/// Which stages a policy guards: every stage whose name matches `stages`, of every API of
/// the `apiKinds` matching both `restApiTags` and `restApiNames`.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StageSelector {
    /// Which kinds of API to match: REST (API Gateway v1), HTTP and WEBSOCKET (API Gateway
    /// v2). Default REST and HTTP: WebSocket APIs are matched only when named, so a policy
    /// written before they were guarded does not start guarding them.
    #[serde(default = "default_kinds")]
    #[schemars(length(max = 3))]
    #[x_kube(validation = Rule::new("size(self) > 0 && self.all(k, self.exists_one(x, x == k))")
        .message("name REST, HTTP or WEBSOCKET, each at most once; omit apiKinds for REST and HTTP"))]
    pub api_kinds: Vec<ApiKind>,
    /// API tags that must all be present with these values, on REST and HTTP APIs alike (the
    /// name is from when policies matched REST APIs only). Omitted: any tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rest_api_tags: BTreeMap<String, String>,
    /// API name globs (`*` any run of characters, `?` one), for REST and HTTP APIs alike (the
    /// name is from when policies matched REST APIs only); one must match. Omitted: any name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(length(min = 1, max = 1024)))]
    pub rest_api_names: Vec<String>,
    /// Stage name globs, e.g. prod, live-* or $default (an HTTP API's default stage); one
    /// must match.
    #[schemars(length(min = 1), inner(length(min = 1, max = 128)))]
    pub stages: Vec<String>,
}

/// The kinds a selector that names none matches (each profile's `selected_by_default`).
fn default_kinds() -> Vec<ApiKind> {
    crate::core::kind::KINDS
        .into_iter()
        .filter(|kind| kind.profile().selected_by_default)
        .collect()
}

/// An ApiGatewayGuard spec without region, account, restApi or httpApi, and stage.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(validation = Rule::new(super::count_alarm_rule("self")).message(super::SLO_COUNT_ALARM))]
pub struct GuardTemplate {
    #[serde(flatten)]
    pub controls: Controls,
}

impl GuardTemplate {
    /// The template's sections the guards of `kind` are made without, `None` when there are
    /// none: that kind of API has no such setting, and the guard CRD refuses them there.
    /// [`Self::guard_spec`] drops exactly these.
    pub fn left_out(&self, kind: ApiKind) -> Option<LeftOut> {
        let sections: Vec<String> = kind
            .profile()
            .refused_in(&self.controls)
            .map(|(section, _)| section.field().to_owned())
            .collect();
        (!sections.is_empty()).then_some(LeftOut {
            api_kind: kind,
            sections,
        })
    }

    /// The spec of the guard of one stage of the API of this kind and id, without the
    /// sections [`Self::left_out`] names for the kind.
    pub fn guard_spec(
        &self,
        policy: &ApiGatewayGuardPolicySpec,
        kind: ApiKind,
        api_id: &str,
        stage: &str,
    ) -> ApiGatewayGuardSpec {
        let mut spec = ApiGatewayGuardSpec {
            region: policy.region.clone(),
            account: policy.account.clone(),
            rest_api: None,
            http_api: None,
            websocket_api: None,
            stage: stage.to_owned(),
            controls: self.controls.for_kind(kind),
        };
        *spec.api_ref_mut(kind) = Some(ResourceRef {
            name: None,
            id: Some(api_id.to_owned()),
        });
        spec
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
    #[schemars(extend("format" = "int32"))]
    pub matched: u32,
    /// Matched stages the policy keeps a guard for.
    #[serde(default)]
    #[schemars(extend("format" = "int32"))]
    pub guarded: u32,
    /// Of those, the guards that are Ready.
    #[serde(default)]
    #[schemars(extend("format" = "int32"))]
    pub ready: u32,
    /// Matched stages already guarded by a guard no policy owns (explicit beats policy).
    #[serde(default)]
    #[schemars(extend("format" = "int32"))]
    pub skipped: u32,
    /// Matched stages an older policy guards.
    #[serde(default)]
    #[schemars(extend("format" = "int32"))]
    pub conflicting: u32,
    /// Up to 20 stages not guarded and Ready, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_ready: Vec<StageProblem>,
    /// Template sections left out of the policy's guards of one kind of API, which has no
    /// such setting; those guards keep the rest of the template.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<LeftOut>,
}

/// The template sections the policy's guards of one kind of API are made without.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeftOut {
    /// REST or HTTP.
    pub api_kind: ApiKind,
    /// The sections, e.g. tracing or stageThrottle.routes.
    pub sections: Vec<String>,
}

/// A matched stage that is not guarded and Ready.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StageProblem {
    /// API name and stage, e.g. orders-api/prod.
    pub stage: String,
    /// REST or HTTP: a REST and an HTTP API may share a name.
    #[serde(default)]
    pub api_kind: ApiKind,
    /// The guard of the stage, when the policy keeps one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<String>,
    /// Skipped, Conflicting, or the guard's Ready reason.
    pub reason: String,
    pub message: String,
}
