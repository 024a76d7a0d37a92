//! The `ApiGatewayGuard` custom resource: what users write, and the status the operator reports.
//!
//! Doc comments on fields become `kubectl explain` text, so they speak to the user.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{CustomResource, CustomResourceExt, KubeSchema, Resource};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::core::kind;
pub use crate::core::kind::ApiKind;

mod account;
mod deployments;
mod objective;
mod policy;

pub use account::{
    AwsAccount, AwsAccountSpec, AwsAccountStatus, NamespaceSelector, ROLE_ARN_PATTERN,
    RestApiFilter, SelectorOperator, SelectorRequirement,
};
pub use deployments::{CanaryStatus, DeploymentStatus, DeploymentsSpec, Rollback};
pub use objective::{
    BurnRateTier, DEFAULT_TIERS, LatencyObjective, MAX_TIERS, ObjectiveSpec, ObjectiveStatus,
    SLO_AVAILABILITY, SLO_COUNT_ALARM, SLO_LATENCY_OBJECTIVE, SLO_LONG_WINDOWS, SLO_UNREACHABLE,
    SLO_WINDOWS, TierStatus,
};
pub use policy::{
    ApiGatewayGuardPolicy, ApiGatewayGuardPolicySpec, ApiGatewayGuardPolicyStatus, GuardTemplate,
    LeftOut, StageProblem, StageSelector,
};

/// An AWS region name, e.g. us-east-1, us-gov-west-1 or cn-north-1: a CEL rule rather than a
/// schema pattern, so the API server and `plan -f` say what is wrong in words, not a regex.
pub const REGION_RULE: &str = "self.matches('^[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}$')";
pub const REGION_MESSAGE: &str =
    "not an AWS region name, e.g. us-east-1, eu-west-2, us-gov-west-1 or cn-north-1";

/// CEL over a spec (`self.spec`) or a policy's template (`self.template`): an objective
/// replaces the 5XX count alarm, so fiveXXError's settings beside one are refused unless
/// slo.countAlarm keeps both.
pub fn count_alarm_rule(spec: &str) -> String {
    let five = format!("{spec}.alarms.fiveXXError");
    format!(
        "!has({spec}.slo) || {spec}.slo.countAlarm || !has({spec}.alarms) || !has({five}) || \
         !(has({five}.threshold) || has({five}.statistic) || has({five}.periodSeconds) || \
         has({five}.evaluationPeriods) || (has({five}.enabled) && {five}.enabled))"
    )
}

/// Every CRD as the API server gets it, with the file stem it is kept under in `crds/`. The
/// rules that depend on the kinds of API are made from their profiles: a guard names one API,
/// of one kind, and none of the sections that kind refuses; a policy taking one kind alone
/// has a template without them.
pub fn definitions() -> [(&'static str, CustomResourceDefinition); 3] {
    let mut guard_rules = vec![(kind::one_api_rule(), kind::one_api())];
    let mut template_rules = Vec::new();
    for profile in kind::KINDS.map(ApiKind::profile) {
        guard_rules.extend(
            profile
                .guard_rules()
                .into_iter()
                .map(|(rule, message)| (rule, message.to_owned())),
        );
        template_rules.extend(
            profile
                .template_rule()
                .map(|(rule, message)| (rule, message.to_owned())),
        );
    }
    [
        (
            "apigatewayguard",
            definition(ApiGatewayGuard::crd(), &guard_rules, &[]),
        ),
        ("awsaccount", definition(AwsAccount::crd(), &[], &[])),
        (
            "apigatewayguardpolicy",
            definition(ApiGatewayGuardPolicy::crd(), &[], &template_rules),
        ),
    ]
}

/// Doc comments become descriptions line by line; their line breaks are taken out again
/// (paragraphs kept), so `kubectl explain` prints sentences. `object_rules` (CEL, message) go
/// before the object's own rules, `spec_rules` after the spec's.
fn definition(
    crd: CustomResourceDefinition,
    object_rules: &[(String, String)],
    spec_rules: &[(String, String)],
) -> CustomResourceDefinition {
    let mut value = serde_json::to_value(crd).expect("the CRD serializes");
    unwrap_descriptions(&mut value);
    for version in value["spec"]["versions"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        let object = &mut version["schema"]["openAPIV3Schema"];
        add_rules(object, object_rules, true);
        add_rules(&mut object["properties"]["spec"], spec_rules, false);
    }
    for version in value["spec"]["versions"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        refuse_nulls(&mut version["schema"]["openAPIV3Schema"]["properties"]["spec"]);
    }
    serde_json::from_value(value).expect("the CRD deserializes")
}

/// Adds `rules` (CEL, message) to the schema's own, before them or after.
fn add_rules(schema: &mut serde_json::Value, rules: &[(String, String)], before: bool) {
    if rules.is_empty() {
        return;
    }
    let added = rules
        .iter()
        .map(|(rule, message)| serde_json::json!({"rule": rule, "message": message}));
    let own = match schema.get("x-kubernetes-validations") {
        Some(serde_json::Value::Array(own)) => own.clone(),
        _ => Vec::new(),
    };
    let all: Vec<serde_json::Value> = match before {
        true => added.chain(own).collect(),
        false => own.into_iter().chain(added).collect(),
    };
    schema["x-kubernetes-validations"] = serde_json::Value::Array(all);
}

/// What the CRDs say of a null where a default applies.
pub const NOT_NULL: &str = "must not be null: omit the field for its default";

/// A field with a default that is written `null` would be dropped and defaulted by the API
/// server (so `enabled: null` would mean true), while the operator's own types refuse it: every
/// such field is made to refuse null instead. A nullable field keeps its null past defaulting,
/// where an enum without null refuses it, or else a rule on the parent that finds it absent
/// (`has()` is false for a null). Booleans take the rule, not an enum of `[true, false]`,
/// which `kubectl explain` would show as if the field were a choice of words.
fn refuse_nulls(schema: &mut serde_json::Value) {
    use serde_json::{Value, json};
    let mut rules = Vec::new();
    for (name, field) in schema["properties"].as_object_mut().into_iter().flatten() {
        refuse_nulls(field);
        if field.get("default").is_none() || field["nullable"] == Value::Bool(true) {
            continue;
        }
        field["nullable"] = Value::Bool(true);
        if field.get("enum").is_none() {
            rules.push(json!({
                "rule": format!("has(self.{name})"),
                "message": NOT_NULL,
                "fieldPath": format!(".{name}"),
            }));
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(inner) = schema.get_mut(key).filter(|inner| inner.is_object()) {
            refuse_nulls(inner);
        }
    }
    if !rules.is_empty() {
        let existing = schema
            .as_object_mut()
            .expect("an object schema")
            .entry("x-kubernetes-validations")
            .or_insert_with(|| json!([]));
        existing
            .as_array_mut()
            .expect("a list of rules")
            .extend(rules);
    }
}

fn unwrap_descriptions(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                match value {
                    serde_json::Value::String(text) if key == "description" => {
                        *text = text
                            .split("\n\n")
                            .map(|paragraph| paragraph.split('\n').collect::<Vec<_>>().join(" "))
                            .collect::<Vec<_>>()
                            .join("\n\n");
                    }
                    value => unwrap_descriptions(value),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(unwrap_descriptions),
        _ => {}
    }
}

/// Guards one API Gateway REST or HTTP API stage against 5XX incidents: CloudWatch alarms,
/// X-Ray tracing and execution logging (REST), access logging and throttling, as the API
/// Gateway 5XX runbook prescribes.
/// Every omitted section means "do not manage this".
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "apigw-guard.dev",
    version = "v1alpha1",
    kind = "ApiGatewayGuard",
    namespaced,
    status = "ApiGatewayGuardStatus",
    shortname = "agg",
    doc = "Guards one API Gateway REST or HTTP API stage against 5XX incidents.",
    printcolumn = r#"{"name":"API","type":"string","jsonPath":".status.apiName"}"#,
    printcolumn = r#"{"name":"Kind","type":"string","jsonPath":".status.apiKind"}"#,
    printcolumn = r#"{"name":"Stage","type":"string","jsonPath":".spec.stage"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Verified","type":"string","jsonPath":".status.conditions[?(@.type==\"Verified\")].status"}"#,
    printcolumn = r#"{"name":"Alarms","type":"string","jsonPath":".status.alarmSummary"}"#,
    printcolumn = r#"{"name":"Budget","type":"number","jsonPath":".status.objective.budgetRemainingPercent","priority":1}"#,
    printcolumn = r#"{"name":"Deployment","type":"string","jsonPath":".status.deployment.verdict","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new(count_alarm_rule("self.spec")).message(SLO_COUNT_ALARM),
    validation = Rule::new("size(self.metadata.name) <= 128").message(
        "metadata.name: at most 128 characters: the guard's alarm and dashboard names carry it and must stay within CloudWatch's limits"
    ),
    // The status is the stored one on every update of the spec: status.accountId is set once
    // the guard acted through its AwsAccount's role. A guard that named none may be given one
    // (the operator then acts only if its alarms are in the account that role reaches).
    validation = Rule::new("!has(oldSelf.spec.account) || (has(self.spec.account) && self.spec.account == oldSelf.spec.account) || !has(self.status) || !has(self.status.accountId)").message(
        "spec.account: the account cannot change once the guard acted through it: what the guard made lives in the AWS account status.accountId names; delete the guard (its deletionPolicy cleans up there) and create it anew"
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiGatewayGuardSpec {
    /// AWS region of the API, e.g. us-east-1. Defaults to the operator's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50))]
    #[x_kube(validation = Rule::new(REGION_RULE).message(REGION_MESSAGE))]
    pub region: Option<String>,
    /// The AwsAccount (cluster-scoped) whose role the guard acts through; it must select this
    /// guard's namespace. Omitted: the operator's own identity, where the operator's
    /// --own-identity-namespaces setting allows it. It may be added to a guard that named none,
    /// whose alarms are in the operator's own AWS account: the guard then acts only if the
    /// role reaches that same account. Once the guard acted through it (status.accountId), it
    /// cannot change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub account: Option<String>,
    /// The REST API to guard: exactly one of `name` or `id`. A name must be unique in the region.
    /// Give exactly one of restApi, httpApi or websocketApi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rest_api: Option<ResourceRef>,
    /// The HTTP API (API Gateway v2) to guard: exactly one of `name` or `id`. A name must be
    /// unique in the region. Give exactly one of restApi, httpApi or websocketApi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_api: Option<ResourceRef>,
    /// The WebSocket API (API Gateway v2) to guard: exactly one of `name` or `id`. A name
    /// must be unique in the region. Give exactly one of restApi, httpApi or websocketApi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websocket_api: Option<ResourceRef>,
    /// The stage name, e.g. prod, or $default (HTTP APIs).
    #[schemars(length(min = 1, max = 128))]
    pub stage: String,
    #[serde(flatten)]
    pub controls: Controls,
}

/// What a guard makes true of its stage, and what deleting or suspending it does: the
/// sections a guard's spec and a policy's template share.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Controls {
    /// X-Ray tracing on the stage (runbook: update-stage /tracingEnabled=true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<TracingSpec>,
    /// Execution logging and detailed metrics for all methods of the stage (`/*/*/logging/*`,
    /// `/*/*/metrics/enabled`). Needs the account's CloudWatch Logs role ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_logging: Option<ExecutionLoggingSpec>,
    /// Throttle of the usage plan serving this stage (runbook: update-usage-plan /throttle/*).
    /// It limits only requests that carry an API key; use stageThrottle for all traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<UsagePlanThrottleSpec>,
    /// Default throttle for all methods of the stage (REST: `/*/*/throttling/*`; HTTP: the
    /// default route settings). Unlike a usage plan throttle it limits all traffic, with or
    /// without an API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_throttle: Option<StageThrottleSpec>,
    /// Per-route CloudWatch metrics on an HTTP API stage (the default route settings'
    /// DetailedMetricsEnabled; the `Route` dimension). Default false when the section is
    /// omitted: the stage is left as it is. REST APIs set executionLogging.detailedMetrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detailed_metrics: Option<bool>,
    /// The stage's access logs in CloudWatch Logs: the only logs an HTTP API has, and a REST
    /// API's per-request record. The operator makes the log group when it is missing (and
    /// owns it), and sets a JSON format with what the runbook's diagnosis reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_logging: Option<AccessLoggingSpec>,
    /// CloudWatch alarms on the stage's AWS/ApiGateway metrics (dimensions ApiName and Stage
    /// for a REST API, ApiId and Stage for an HTTP API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarms: Option<AlarmsSpec>,
    /// An availability objective (and optionally a latency one): burn-rate alarms on the
    /// error budget, one composite alarm per tier carrying the actions, and the budget left in
    /// status. With it, the 5XX count alarm is not made unless slo.countAlarm is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<ObjectiveSpec>,
    /// Verify every new deployment of the stage for a while (the runbook's 30 minutes), and
    /// roll the stage back to its previous deployment when it regresses (rollback: Auto).
    /// REST APIs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployments: Option<DeploymentsSpec>,
    /// A CloudWatch dashboard of the stage's runbook metrics beside the alarms, named
    /// `apigw-guard-<namespace>_<name>` (dots in the name become underscores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard: Option<DashboardSpec>,
    /// What deleting the guard does: Delete removes the alarms, dashboard and access log group
    /// this guard made and owns; Retain leaves them. Stage and usage-plan settings are never
    /// switched off by a delete.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// Pause reconciliation: no AWS writes while true; nothing is deleted.
    #[serde(default)]
    pub suspend: bool,
}

/// Names an AWS object by exactly one of its name or its id.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(validation = Rule::new("has(self.name) != has(self.id)").message("give exactly one of name or id"))]
pub struct ResourceRef {
    /// The object's name; it must be unique in the region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub name: Option<String>,
    /// The object's id, as AWS assigned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub id: Option<String>,
}

/// X-Ray tracing of the stage.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TracingSpec {
    /// Whether X-Ray tracing is on. Default true (the runbook's prevention step).
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// Execution logging and CloudWatch metrics for all methods of the stage.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecutionLoggingSpec {
    /// Execution log level (`/*/*/logging/loglevel`). Default ERROR. Quote OFF in YAML
    /// ("OFF"): YAML 1.1 readers such as kubectl take a bare OFF for false.
    #[serde(default)]
    pub level: LogLevel,
    /// Log full requests and responses (`/*/*/logging/dataTrace`). Default false: it may log
    /// personal data.
    #[serde(default)]
    pub data_trace: bool,
    /// Per-method CloudWatch metrics (`/*/*/metrics/enabled`). Default false: they cost money.
    #[serde(default)]
    pub detailed_metrics: bool,
}

/// API Gateway execution log level.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum LogLevel {
    /// No execution logs.
    Off,
    /// Errors only.
    #[default]
    Error,
    /// Errors and informational entries.
    Info,
}

/// The label every guard of a policy carries: the policy's name.
pub const POLICY_LABEL: &str = "apigw-guard.dev/policy";

impl ApiGatewayGuard {
    /// The policy that keeps this guard, `namespace/name`: the one its controller owner
    /// reference names (labels can be edited by hand), else its policy label; `None` for a
    /// guard written by hand.
    pub fn policy(&self) -> Option<String> {
        let by_reference = self
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true) && o.kind == ApiGatewayGuardPolicy::kind(&()))
            .map(|o| o.name.clone());
        let name =
            by_reference.or_else(|| self.metadata.labels.as_ref()?.get(POLICY_LABEL).cloned())?;
        let namespace = self.metadata.namespace.as_deref().unwrap_or_default();
        Some(format!("{namespace}/{name}"))
    }

    /// Whether this guard names the API of this kind and this id or name, however it names
    /// it: by id (or the id its status resolved), or by name (unique in its region).
    pub fn names_api(&self, kind: ApiKind, id: Option<&str>, name: Option<&str>) -> bool {
        let Some((own_kind, by)) = self.spec.api() else {
            return false;
        };
        let resolved = self.status.as_ref().and_then(|s| s.api_id.as_deref());
        own_kind == kind
            && ((id.is_some() && resolved.or(by.id.as_deref()) == id)
                || (name.is_some() && by.name.as_deref() == name))
    }
}

impl ApiGatewayGuardSpec {
    /// The API the guard names and its kind; `None` only for a spec that names neither (or
    /// both), which validation refuses.
    pub fn api(&self) -> Option<(ApiKind, &ResourceRef)> {
        let mut named = kind::KINDS
            .into_iter()
            .filter_map(|kind| self.api_ref(kind).map(|by| (kind, by)));
        match (named.next(), named.next()) {
            (Some(one), None) => Some(one),
            _ => None,
        }
    }

    /// The API the spec names under the field of `kind` (`restApi`, `httpApi`).
    pub fn api_ref(&self, kind: ApiKind) -> Option<&ResourceRef> {
        match kind {
            ApiKind::Rest => self.rest_api.as_ref(),
            ApiKind::Http => self.http_api.as_ref(),
            ApiKind::WebSocket => self.websocket_api.as_ref(),
        }
    }

    /// The spec's field naming an API of `kind`, for a spec made from parts (a policy's guard).
    pub fn api_ref_mut(&mut self, kind: ApiKind) -> &mut Option<ResourceRef> {
        match kind {
            ApiKind::Rest => &mut self.rest_api,
            ApiKind::Http => &mut self.http_api,
            ApiKind::WebSocket => &mut self.websocket_api,
        }
    }
}

impl kind::Sections for Controls {
    fn has(&self, section: kind::Section) -> bool {
        use kind::Section as S;
        match section {
            S::Tracing => self.tracing.is_some(),
            S::ExecutionLogging => self.execution_logging.is_some(),
            S::UsagePlanThrottle => self.throttle.is_some(),
            S::Deployments => self.deployments.is_some(),
            S::DetailedMetrics => self.detailed_metrics.is_some(),
            S::RouteThrottles => self
                .stage_throttle
                .as_ref()
                .is_some_and(|t| t.routes.is_some()),
            // The fields below have defaults, so one counts as given with a value that asks for
            // something, as the CRD's rules (`Section::present`) count it.
            S::ExecutionLoggingMetrics => self
                .execution_logging
                .as_ref()
                .is_some_and(|l| l.detailed_metrics),
            S::LatencyAlarm => self.alarms.as_ref().is_some_and(|a| a.latency.asks()),
            S::LatencyObjective => self.slo.as_ref().is_some_and(|s| s.latency.is_some()),
        }
    }
}

impl Controls {
    /// These controls without the sections a `kind` of API refuses (its profile's): what a
    /// policy's guard of that kind is given.
    pub fn for_kind(&self, kind: ApiKind) -> Controls {
        let profile = kind.profile();
        let has = |section| profile.has(section);
        Controls {
            tracing: self.tracing.clone().filter(|_| has(kind::Section::Tracing)),
            execution_logging: self
                .execution_logging
                .clone()
                .filter(|_| has(kind::Section::ExecutionLogging))
                .map(|logging| ExecutionLoggingSpec {
                    detailed_metrics: logging.detailed_metrics
                        && has(kind::Section::ExecutionLoggingMetrics),
                    ..logging
                }),
            throttle: self
                .throttle
                .clone()
                .filter(|_| has(kind::Section::UsagePlanThrottle)),
            stage_throttle: self
                .stage_throttle
                .clone()
                .map(|throttle| StageThrottleSpec {
                    routes: throttle
                        .routes
                        .filter(|_| has(kind::Section::RouteThrottles)),
                    ..throttle
                }),
            detailed_metrics: self
                .detailed_metrics
                .filter(|_| has(kind::Section::DetailedMetrics)),
            deployments: self
                .deployments
                .clone()
                .filter(|_| has(kind::Section::Deployments)),
            alarms: self.alarms.clone().map(|alarms| AlarmsSpec {
                latency: match has(kind::Section::LatencyAlarm) {
                    true => alarms.latency.clone(),
                    false => AlarmSpec::default(),
                },
                ..alarms
            }),
            slo: self.slo.clone().map(|slo| ObjectiveSpec {
                latency: slo.latency.filter(|_| has(kind::Section::LatencyObjective)),
                ..slo
            }),
            ..self.clone()
        }
    }
}

impl LogLevel {
    /// The value AWS stores for `/*/*/logging/loglevel`.
    pub fn as_aws(self) -> &'static str {
        match self {
            LogLevel::Off => "OFF",
            LogLevel::Error => "ERROR",
            LogLevel::Info => "INFO",
        }
    }
}

/// The throttle of the usage plan that serves the stage.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(validation = Rule::new("self.rateLimit > 0.0").message("rateLimit must be greater than 0"))]
pub struct UsagePlanThrottleSpec {
    /// The usage plan: exactly one of `name` or `id`. It must list this API stage.
    pub usage_plan: ResourceRef,
    /// Steady-state requests per second (the runbook's example: 1000).
    pub rate_limit: f64,
    /// Maximum burst of requests (the runbook's example: 2000).
    #[schemars(range(min = 0))]
    pub burst_limit: i32,
}

/// Request rate and burst limits.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(validation = Rule::new("self.rateLimit > 0.0").message("rateLimit must be greater than 0"))]
pub struct ThrottleLimits {
    /// Steady-state requests per second.
    pub rate_limit: f64,
    /// Maximum burst of requests.
    #[schemars(range(min = 0))]
    pub burst_limit: i32,
}

/// The stage's default throttle, and per-route throttles (HTTP and WebSocket APIs).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(
    validation = Rule::new("self.rateLimit > 0.0").message("rateLimit must be greater than 0"),
    validation = Rule::new(r"!has(self.routes) || self.routes.all(k, !k.contains(' ') || k.matches('^(ANY|GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) /[^ ]*$'))")
        .message("routes: each key is a route key: a method and a path such as 'GET /pets' (HTTP APIs), $default, or a key without spaces such as $connect or sendMessage (WebSocket APIs)")
)]
pub struct StageThrottleSpec {
    /// Steady-state requests per second.
    pub rate_limit: f64,
    /// Maximum burst of requests.
    #[schemars(range(min = 0))]
    pub burst_limit: i32,
    /// Throttles of single routes, by route key: an HTTP API's (`GET /pets`, `ANY /{proxy+}`,
    /// `$default`) or a WebSocket API's (`$connect`, `$disconnect`, `$default`, `sendMessage`);
    /// the route must exist. Routes not named keep the stage's throttle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 50))]
    pub routes: Option<std::collections::BTreeMap<String, ThrottleLimits>>,
}

impl StageThrottleSpec {
    /// The stage-wide limits alone.
    pub fn limits(&self) -> ThrottleLimits {
        ThrottleLimits {
            rate_limit: self.rate_limit,
            burst_limit: self.burst_limit,
        }
    }
}

/// What the API server (CEL) and `validate` say of an alarm's period: one text for both.
pub const ALARM_PERIOD: &str = "periodSeconds must be a multiple of 60: API Gateway publishes its metrics once a minute, so a shorter period (10, 20 or 30 s) would evaluate on gaps";
pub const ALARM_SPAN: &str = "periodSeconds x evaluationPeriods must be at most 86400 (one day), or 604800 (7 days) for periods of an hour or more: what CloudWatch evaluates";

/// Retention periods CloudWatch Logs accepts (PutRetentionPolicy), in days.
pub const RETENTION_DAYS: [i32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// The stage's access logs.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(validation = Rule::new(
    "self.retentionDays in [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]"
).message("retentionDays must be one CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653"))]
pub struct AccessLoggingSpec {
    /// Whether the stage writes access logs. Default true; false turns them off on the stage
    /// (the log group is kept, its retention ages it out).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The CloudWatch Logs group. Default `/aws/apigateway/apigw-guard/<api-id>/<stage>`
    /// (`$default` as `_default`). A group that exists and was not made by this guard is
    /// written to and never changed or deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512), regex(pattern = r"^[.\-_/#A-Za-z0-9]+$"))]
    pub log_group_name: Option<String>,
    /// Days the log group the operator made keeps events. Default 30.
    #[serde(default = "thirty")]
    pub retention_days: i32,
}

fn thirty() -> i32 {
    30
}

/// The stage's CloudWatch alarms. Each of the three alarms is on unless `enabled: false`.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlarmsSpec {
    /// ARNs notified when an alarm enters ALARM (AlarmActions), e.g. an SNS topic.
    #[serde(default)]
    #[schemars(
        length(max = 5),
        inner(regex(pattern = r"^arn:[^:]+:[^:]+:[^:]*:[^:]*:.+$"))
    )]
    pub actions: Vec<String>,
    /// ARNs notified when an alarm returns to OK (OKActions).
    #[serde(default)]
    #[schemars(
        length(max = 5),
        inner(regex(pattern = r"^arn:[^:]+:[^:]+:[^:]*:[^:]*:.+$"))
    )]
    pub ok_actions: Vec<String>,
    /// How periods without data are treated. Default notBreaching: no traffic is no incident.
    #[serde(default)]
    pub treat_missing_data: TreatMissingData,
    /// 5XXError alarm. Every field is optional; the defaults are the runbook's alarm: Sum over
    /// 300 s greater than 10, one period.
    #[serde(default, rename = "fiveXXError")]
    pub five_xx_error: AlarmSpec,
    /// Latency alarm, in milliseconds. Every field is optional; the defaults are the runbook's
    /// verification target: p99 over 300 s greater than 1000 ms, one period.
    #[serde(default)]
    pub latency: AlarmSpec,
    /// IntegrationLatency alarm, in milliseconds. Every field is optional; the defaults are the
    /// runbook's verification target: p99 over 300 s greater than 500 ms, one period.
    #[serde(default)]
    pub integration_latency: AlarmSpec,
}

impl AlarmsSpec {
    /// The 5XXError alarm with its defaults filled in.
    pub fn five_xx_error(&self) -> AlarmSettings {
        self.five_xx_error.with_defaults(10.0, "Sum")
    }

    /// The Latency alarm with its defaults filled in.
    pub fn latency(&self) -> AlarmSettings {
        self.latency.with_defaults(1000.0, "p99")
    }

    /// The IntegrationLatency alarm with its defaults filled in.
    pub fn integration_latency(&self) -> AlarmSettings {
        self.integration_latency.with_defaults(500.0, "p99")
    }
}

/// One CloudWatch alarm: fires when the statistic is greater than the threshold for
/// `evaluationPeriods` consecutive periods. Every field is optional: an omitted one takes its
/// alarm's default, so an override changes only what it names.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(
    validation = Rule::new("!has(self.threshold) || self.threshold >= 0.0").message("threshold must be 0 or more"),
    validation = Rule::new("!has(self.periodSeconds) || self.periodSeconds % 60 == 0")
        .message(ALARM_PERIOD),
    validation = Rule::new("(has(self.periodSeconds) ? self.periodSeconds : 300) * (has(self.evaluationPeriods) ? self.evaluationPeriods : 1) <= ((has(self.periodSeconds) ? self.periodSeconds : 300) >= 3600 ? 604800 : 86400)")
        .message(ALARM_SPAN)
)]
pub struct AlarmSpec {
    /// Whether the alarm exists. Default true; false deletes the alarm if this guard owns it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Threshold: an error count for 5XXError, milliseconds for the latency alarms. Default
    /// 10 (fiveXXError), 1000 (latency), 500 (integrationLatency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Statistic: Sum, Average, Maximum, Minimum, SampleCount or a percentile such as p99.
    /// Default Sum (fiveXXError), p99 (latency, integrationLatency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^(SampleCount|Average|Sum|Minimum|Maximum|p(100|[0-9]{1,2}(\.[0-9]{1,2})?))$"
    ))]
    pub statistic: Option<String>,
    /// Length of one period in seconds, a multiple of 60: API Gateway publishes its metrics
    /// once a minute, so a 10, 20 or 30 s period would evaluate on gaps. Default 300.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 60, max = 86400))]
    pub period_seconds: Option<i32>,
    /// Consecutive periods over the threshold before the alarm fires. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 8640))]
    pub evaluation_periods: Option<i32>,
}

/// One alarm's settings with its defaults filled in: what the guard keeps in CloudWatch.
#[derive(Clone, Debug, PartialEq)]
pub struct AlarmSettings {
    pub enabled: bool,
    pub threshold: f64,
    pub statistic: String,
    pub period_seconds: i32,
    pub evaluation_periods: i32,
}

impl AlarmSpec {
    /// Whether it asks for something of its own: a setting, or `enabled: true` (the schema
    /// gives every alarm an empty section, and `enabled: false` asks for no alarm).
    pub fn asks(&self) -> bool {
        self.threshold.is_some()
            || self.statistic.is_some()
            || self.period_seconds.is_some()
            || self.evaluation_periods.is_some()
            || self.enabled == Some(true)
    }

    fn with_defaults(&self, threshold: f64, statistic: &str) -> AlarmSettings {
        AlarmSettings {
            enabled: self.enabled.unwrap_or(true),
            threshold: self.threshold.unwrap_or(threshold),
            statistic: self
                .statistic
                .clone()
                .unwrap_or_else(|| statistic.to_owned()),
            period_seconds: self.period_seconds.unwrap_or(300),
            evaluation_periods: self.evaluation_periods.unwrap_or(1),
        }
    }
}

/// CloudWatch's handling of periods without data.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum TreatMissingData {
    /// Missing data counts as within the threshold.
    #[default]
    NotBreaching,
    /// Missing data counts as over the threshold.
    Breaching,
    /// The alarm keeps its state.
    Ignore,
    /// The alarm goes to INSUFFICIENT_DATA.
    Missing,
}

impl TreatMissingData {
    /// The value CloudWatch stores.
    pub fn as_aws(self) -> &'static str {
        match self {
            TreatMissingData::NotBreaching => "notBreaching",
            TreatMissingData::Breaching => "breaching",
            TreatMissingData::Ignore => "ignore",
            TreatMissingData::Missing => "missing",
        }
    }
}

/// What deleting the guard does to the alarms it owns.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Remove the alarms, dashboard and access log group this guard owns (tag-checked).
    #[default]
    Delete,
    /// Leave everything in AWS as it is.
    Retain,
}

/// The guard's CloudWatch dashboard: requests and errors, latencies against the runbook's
/// targets, and the guard's alarms. Edits made to it in the console are put back.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DashboardSpec {
    /// Whether the dashboard exists. Default true; false deletes it if this guard owns it.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// What the operator last saw and did, following kstatus conventions.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiGatewayGuardStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling and Stalled (kstatus), then one per control the spec manages:
    /// Tracing, ExecutionLogging, Throttle, StageThrottle, Alarms, Dashboard, AccessLogging,
    /// DetailedMetrics.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The AWS account the guard acts in, as STS reported it; shown for guards that name
    /// spec.account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// REST or HTTP: which kind of API the guard guards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_kind: Option<ApiKind>,
    /// The guarded API's id (an HTTP API's ApiId alarm dimension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_id: Option<String>,
    /// The guarded API's name (a REST API's ApiName alarm dimension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_name: Option<String>,
    /// The log group the stage's access logs go to, when spec.accessLogging keeps them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log_group: Option<String>,
    /// The id of the usage plan whose throttle is managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_plan_id: Option<String>,
    /// The guard's alarms with their live CloudWatch state.
    #[serde(default)]
    pub alarms: Vec<AlarmStatus>,
    /// Alarm states at a glance, e.g. "3 OK" or "1 ALARM, 2 OK".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_summary: Option<String>,
    /// The stage's traffic over the last window, against the runbook's verification targets
    /// (the Verified condition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    /// The deployment the stage serves and its verification (spec.deployments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentStatus>,
    /// The objective (spec.slo): each tier's state and the error budget left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objective: Option<ObjectiveStatus>,
    /// What the guard's alarms and dashboard cost a month at CloudWatch's list prices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_cost: Option<String>,
    /// AWS console links for an incident: the dashboard, the stage, its execution logs and
    /// each alarm, in the guard's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<Links>,
}

/// A status condition (the metav1.Condition shape).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type, e.g. Ready.
    #[serde(rename = "type")]
    pub type_: String,
    /// "True", "False" or "Unknown".
    pub status: String,
    /// One CamelCase word saying why.
    pub reason: String,
    /// What happened, and what to do about it.
    #[serde(default)]
    pub message: String,
    /// When status last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    /// The metadata.generation this condition describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// kstatus's condition types, which the status of every kind here carries.
pub const READY: &str = "Ready";
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";

/// The condition of `type_` among `conditions`.
pub fn condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of `type_` is there and True.
pub fn holds(conditions: &[Condition], type_: &str) -> bool {
    condition(conditions, type_).is_some_and(|c| c.status == "True")
}

/// The runbook's verification figures from CloudWatch; absent figures had no data points.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    /// The window the figures cover, in seconds.
    pub window_seconds: i32,
    /// Requests (Count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<f64>,
    /// 5XXError sum; the target is 0.
    #[serde(
        default,
        rename = "fiveXXErrors",
        skip_serializing_if = "Option::is_none"
    )]
    pub five_xx_errors: Option<f64>,
    /// 4XXError sum, for comparison.
    #[serde(
        default,
        rename = "fourXXErrors",
        skip_serializing_if = "Option::is_none"
    )]
    pub four_xx_errors: Option<f64>,
    /// p99 Latency in milliseconds; the target is under 1,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p99_ms: Option<f64>,
    /// p99 IntegrationLatency in milliseconds; the target is under 500.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_latency_p99_ms: Option<f64>,
}

/// One alarm of the guard as CloudWatch has it.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlarmStatus {
    /// The alarm's name in CloudWatch.
    pub name: String,
    /// The AWS/ApiGateway metric it watches.
    pub metric: String,
    /// OK, ALARM or INSUFFICIENT_DATA.
    pub state: String,
}

/// AWS console links for one guard.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Links {
    /// The guard's CloudWatch dashboard, when `spec.dashboard` keeps one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard: Option<String>,
    /// The stage in the API Gateway console.
    pub stage: String,
    /// A REST API stage's execution log group in CloudWatch Logs (HTTP APIs have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_logs: Option<String>,
    /// The log group the stage's access logs go to: an HTTP API's, or the guard's default
    /// group while it writes none; a REST API's while it writes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_logs: Option<String>,
    /// Each alarm the guard keeps.
    #[serde(default)]
    pub alarms: Vec<AlarmLink>,
}

/// A console link to one alarm.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlarmLink {
    /// The alarm's name.
    pub name: String,
    /// Its page in the CloudWatch console.
    pub url: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_reads_its_controls_and_refuses_what_it_does_not_know() {
        let spec: ApiGatewayGuardSpec =
            serde_yaml::from_str("{restApi: {id: a1}, stage: prod, tracing: {enabled: true}}")
                .unwrap();
        assert_eq!(spec.controls.tracing, Some(TracingSpec { enabled: true }));
        let unknown = serde_yaml::from_str::<ApiGatewayGuardSpec>(
            "{restApi: {id: a1}, stage: prod, tracingg: {enabled: true}}",
        );
        assert!(unknown.is_err(), "{unknown:?}");
        let template = serde_yaml::from_str::<GuardTemplate>("{alarms: {}, stage: prod}");
        assert!(template.is_err(), "a template names no stage: {template:?}");
    }
}
