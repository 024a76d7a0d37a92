//! What differs between the kinds of API, as data: one [`Profile`] per kind. Validation, the
//! CRDs' rules, a policy's left-out sections, the planner's stage paths, the alarms' metrics
//! and dimensions, the dashboard, the runbook and `diagnose` read a kind's facts here; the AWS
//! adapters (`aws/apigateway.rs`, `aws/apigatewayv2.rs`) and the CloudTrail event names are the
//! only other places that name a kind. A new kind is a variant of [`ApiKind`], its profile and
//! its adapter: [`ApiKind::profile`] does not compile until the profile exists.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The kinds of API Gateway API a guard can guard.
#[derive(
    Deserialize,
    Serialize,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    JsonSchema,
)]
pub enum ApiKind {
    /// A REST API (API Gateway v1).
    #[default]
    #[serde(rename = "REST")]
    Rest,
    /// An HTTP API (API Gateway v2).
    #[serde(rename = "HTTP")]
    Http,
    /// A WebSocket API (API Gateway v2).
    #[serde(rename = "WEBSOCKET")]
    WebSocket,
}

/// One kind of API, as the guard sees it.
#[derive(Debug)]
pub struct Profile {
    pub kind: ApiKind,
    /// Its name in the CRDs (`apiKinds: [REST]`), as serde writes it.
    pub name: &'static str,
    /// What a policy's guard name hashes before the API's id and stage: nothing for REST
    /// APIs, whose guards were named before policies matched other kinds.
    pub name_hash_prefix: &'static str,
    /// What it is called in messages: "REST API".
    pub noun: &'static str,
    /// The noun's article: "a REST API", "an HTTP API".
    pub article: &'static str,
    /// The guard spec's field naming such an API (`restApi`).
    pub spec_field: &'static str,
    /// `diagnose --kind`'s value for it.
    pub cli_kind: &'static str,
    /// Whether `diagnose` takes this kind when `--kind` is not given (one kind does).
    pub cli_default: bool,
    /// Whether a policy's selector that names no `apiKinds` matches this kind: not for a kind
    /// added after policies were in use, which would start guarding APIs unasked.
    pub selected_by_default: bool,
    /// What follows a stage of this kind in listings (`plan -f` of a policy, a dashboard's
    /// heading), where a REST API's stage is the unmarked default.
    pub stage_marker: &'static str,
    /// The API Gateway API that manages it, and (v2) its `ProtocolType`.
    pub service: Service,
    pub protocol: Option<&'static str>,
    /// How its `AWS/ApiGateway` metrics name the API.
    pub api_dimension: ApiDimension,
    /// Its `AWS/ApiGateway` metrics, by what they measure.
    pub metrics: Metrics,
    /// How long API Gateway waits for its backends, in milliseconds (the default, and an HTTP
    /// API's maximum), and what clients get past that.
    pub integration_timeout_ms: f64,
    pub timeout_status: u16,
    /// What a throttle answers: REST APIs 503 (a 5XX the runbook's throttling class
    /// explains), HTTP APIs 429 (never a 5XX).
    pub throttle_status: u16,
    /// Where its stage settings live (detailed metrics, throttles).
    pub stage_settings: StageSettingsShape,
    /// The API Gateway console's page of one of its stages.
    pub console: ConsolePage,
    /// Whether it writes execution logs (`API-Gateway-Execution-Logs_{id}/{stage}`), which
    /// `diagnose` reads; without them it reads the access logs.
    pub execution_logs: bool,
    /// Whether it writes its logs through the account's CloudWatch Logs role (a REST API's
    /// execution and access logs alike), rather than API Gateway's service-linked role.
    pub logs_through_account_role: bool,
    /// The shape of its route keys (`stageThrottle.routes`), a regular expression that CEL
    /// and `validate` read alike, and what they say of a key that does not fit; `None` for a
    /// kind without routes.
    pub route_keys: Option<(&'static str, &'static str)>,
    /// The spec sections it does not have, each with what the CRD and `plan -f` say of one.
    pub refuses: &'static [(Section, &'static str)],
    /// What the policy CRD says of a template with such sections when its selector takes
    /// this kind alone.
    pub template_refusal: &'static str,
    /// The runbook's 502 step for it: where its integrations' responses are checked, with
    /// `{region}` and `{id}` to fill in.
    pub integrations_step: &'static str,
    /// The fields of the access log line the guard sets, as `$context` variables; both kinds
    /// carry `$context.requestId`, which AWS requires.
    pub access_log_fields: &'static [(&'static str, &'static str)],
}

/// The API Gateway API that manages a kind: its adapter (`aws/apigateway.rs` or
/// `aws/apigatewayv2.rs`), its listing and its ids, which v2's kinds share (an id names an
/// API of one v2 kind or the other, never both).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// API Gateway (v1): GetRestApis, PATCH stages.
    V1,
    /// API Gateway v2: GetApis lists every v2 kind, each by its `ProtocolType`.
    V2,
}

/// What a kind's `AWS/ApiGateway` metrics measure, by name (API Gateway publishes each kind's
/// own set).
#[derive(Debug)]
pub struct Metrics {
    /// The failures the runbook's classes explain (5XX answers; a WebSocket API's integration
    /// and execution errors), summed where more than one metric counts them.
    pub server_errors: &'static [&'static str],
    /// The server errors as graphs and text name them: `5XX`.
    pub server_errors_label: &'static str,
    /// Answers refused before the backend (4XX), and their label.
    pub client_errors: &'static str,
    pub client_errors_label: &'static str,
    /// What errors are a share of: requests, or a WebSocket API's messages, and its label.
    pub traffic: &'static str,
    pub traffic_label: &'static str,
    /// The whole answer's time (p99 alarms and figures); `None`: the kind publishes none.
    pub latency: Option<&'static str>,
    /// New connections, for a kind that has them (a WebSocket API's `ConnectCount`).
    pub connections: Option<&'static str>,
}

impl Metrics {
    /// The server errors, as shown: `5XXError`, `IntegrationError + ExecutionError`.
    pub fn server_errors_shown(&self) -> String {
        self.server_errors.join(" + ")
    }
}

/// How a kind's metrics name the API beside `Stage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiDimension {
    /// `ApiName`: the API's name as API Gateway publishes it (non-ASCII removed).
    PublishedName,
    /// `ApiId`: the API's id.
    Id,
}

impl ApiDimension {
    pub fn name(self) -> &'static str {
        match self {
            ApiDimension::PublishedName => "ApiName",
            ApiDimension::Id => "ApiId",
        }
    }
}

/// Where a kind's stage keeps detailed metrics and throttles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StageSettingsShape {
    /// JSON-patch paths over the method settings (`/*/*/metrics/enabled`: `*/*` is every
    /// method); access logs go off as `remove /accessLogSettings` in the same UpdateStage.
    MethodSettings,
    /// Fields of the default route settings or of one route's (`/routeSettings/{key}/...`),
    /// each group taken whole by UpdateStage; access logs go off with
    /// DeleteAccessLogSettings.
    RouteSettings,
}

/// The API Gateway console's pages for a kind's stages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsolePage {
    /// The REST APIs' pages, the stage in the fragment.
    RestApis,
    /// The newer API detail page, which takes the stage as a parameter (HTTP APIs).
    ApiDetail,
}

impl ConsolePage {
    /// The page of stage `stage` (URL-encoded) of API `api_id`, under `console` in `region`.
    pub fn stage_url(self, console: &str, region: &str, api_id: &str, stage: &str) -> String {
        match self {
            ConsolePage::RestApis => {
                format!("{console}/apigateway/home?region={region}#/apis/{api_id}/stages/{stage}")
            }
            ConsolePage::ApiDetail => format!(
                "{console}/apigateway/main/api-detail?api={api_id}&region={region}&stage={stage}"
            ),
        }
    }
}

/// A spec section some kind of API has no setting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Tracing,
    ExecutionLogging,
    UsagePlanThrottle,
    Deployments,
    DetailedMetrics,
    RouteThrottles,
    ExecutionLoggingMetrics,
    LatencyAlarm,
    LatencyObjective,
}

impl Section {
    /// The section's path under the spec (or a policy's template).
    pub fn field(self) -> &'static str {
        match self {
            Section::Tracing => "tracing",
            Section::ExecutionLogging => "executionLogging",
            Section::UsagePlanThrottle => "throttle",
            Section::Deployments => "deployments",
            Section::DetailedMetrics => "detailedMetrics",
            Section::RouteThrottles => "stageThrottle.routes",
            Section::ExecutionLoggingMetrics => "executionLogging.detailedMetrics",
            Section::LatencyAlarm => "alarms.latency",
            Section::LatencyObjective => "slo.latency",
        }
    }

    /// CEL: whether the object at `at` (`self.spec`) has the section; a nested section asks
    /// for its parent first. A field the schema defaults is there in every object the API
    /// server checks, so it counts as given only with a value that asks for something:
    /// `detailedMetrics: true`, an alarm with a setting of its own (or `enabled: true`).
    pub fn present(self, at: &str) -> String {
        let mut path = String::new();
        let mut checks = Vec::new();
        for part in self.field().split('.') {
            path.push('.');
            path.push_str(part);
            checks.push(format!("has({at}{path})"));
        }
        let field = format!("{at}.{}", self.field());
        match self {
            Section::ExecutionLoggingMetrics => checks.push(field),
            Section::LatencyAlarm => checks.push(format!(
                "(has({field}.threshold) || has({field}.statistic) || \
                 has({field}.periodSeconds) || has({field}.evaluationPeriods) || \
                 (has({field}.enabled) && {field}.enabled))"
            )),
            _ => {}
        }
        checks.join(" && ")
    }

    /// CEL: whether the object at `at` goes without the section: [`Self::present`] negated,
    /// a chain of `has` one negated term at a time.
    fn absent(self, at: &str) -> String {
        let present = self.present(at);
        let terms: Vec<&str> = present.split(" && ").collect();
        match terms
            .iter()
            .all(|t| t.starts_with("has(") && !t.contains(' '))
        {
            true => terms
                .iter()
                .map(|has| format!("!{has}"))
                .collect::<Vec<_>>()
                .join(" || "),
            false => format!("!({present})"),
        }
    }
}

/// What a guard's controls (its spec's, or a policy's template's) give of the sections some kind
/// refuses: a trait, so that this bottom layer need not know the CRD types.
pub trait Sections {
    fn has(&self, section: Section) -> bool;
}

const REST: Profile = Profile {
    kind: ApiKind::Rest,
    name: "REST",
    name_hash_prefix: "",
    noun: "REST API",
    article: "a",
    spec_field: "restApi",
    cli_kind: "rest",
    cli_default: true,
    selected_by_default: true,
    stage_marker: "",
    service: Service::V1,
    protocol: None,
    api_dimension: ApiDimension::PublishedName,
    metrics: Metrics {
        server_errors: &["5XXError"],
        server_errors_label: "5XX",
        client_errors: "4XXError",
        client_errors_label: "4XX",
        traffic: "Count",
        traffic_label: "Requests",
        latency: Some("Latency"),
        connections: None,
    },
    integration_timeout_ms: 29_000.0,
    timeout_status: 504,
    throttle_status: 503,
    stage_settings: StageSettingsShape::MethodSettings,
    console: ConsolePage::RestApis,
    execution_logs: true,
    logs_through_account_role: true,
    route_keys: None,
    refuses: &[
        (
            Section::DetailedMetrics,
            "spec.detailedMetrics: on a REST API, set executionLogging.detailedMetrics",
        ),
        (
            Section::RouteThrottles,
            "spec.stageThrottle.routes: per-route throttles are for HTTP APIs (route keys such \
             as 'GET /pets'); a REST API's stageThrottle covers all its methods",
        ),
    ],
    template_refusal: "spec.template: the selector takes REST APIs only (apiKinds): \
        detailedMetrics and stageThrottle.routes are for HTTP APIs; on a REST API set \
        executionLogging.detailedMetrics",
    integrations_step: "Check the integration response mappings and status codes: aws \
        apigateway get-resources --region {region} --rest-api-id {id} --embed methods",
    access_log_fields: &[
        ("requestId", "$context.requestId"),
        ("requestTime", "$context.requestTime"),
        ("httpMethod", "$context.httpMethod"),
        ("resourcePath", "$context.resourcePath"),
        ("status", "$context.status"),
        ("responseLatency", "$context.responseLatency"),
        ("integrationStatus", "$context.integration.status"),
        ("integrationLatency", "$context.integration.latency"),
        ("integrationError", "$context.integration.error"),
        ("errorMessage", "$context.error.message"),
    ],
};

const HTTP: Profile = Profile {
    kind: ApiKind::Http,
    name: "HTTP",
    name_hash_prefix: "HTTP/",
    noun: "HTTP API",
    article: "an",
    spec_field: "httpApi",
    cli_kind: "http",
    cli_default: false,
    selected_by_default: true,
    stage_marker: " (HTTP API)",
    service: Service::V2,
    protocol: Some("HTTP"),
    api_dimension: ApiDimension::Id,
    metrics: Metrics {
        server_errors: &["5xx"],
        server_errors_label: "5XX",
        client_errors: "4xx",
        client_errors_label: "4XX",
        traffic: "Count",
        traffic_label: "Requests",
        latency: Some("Latency"),
        connections: None,
    },
    integration_timeout_ms: 30_000.0,
    timeout_status: 503,
    throttle_status: 429,
    stage_settings: StageSettingsShape::RouteSettings,
    console: ConsolePage::ApiDetail,
    execution_logs: false,
    logs_through_account_role: false,
    route_keys: Some((
        r"^((ANY|GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) /[^ ]*|\$default)$",
        "spec.stageThrottle.routes: an HTTP API's route keys are a method and a path such as \
         'GET /pets' or 'ANY /{proxy+}', or '$default'",
    )),
    refuses: &[
        (
            Section::Tracing,
            "spec.tracing: HTTP APIs have no X-Ray tracing (API Gateway traces REST APIs only); \
             use accessLogging for an HTTP API's request record",
        ),
        (
            Section::ExecutionLogging,
            "spec.executionLogging: HTTP APIs have no execution logs; use accessLogging (an \
             HTTP API's only logs) and detailedMetrics",
        ),
        (
            Section::UsagePlanThrottle,
            "spec.throttle: HTTP APIs have no usage plans; use stageThrottle (and \
             stageThrottle.routes for single routes)",
        ),
    ],
    template_refusal: "spec.template: the selector takes HTTP APIs only (apiKinds), which have \
        no X-Ray tracing, execution logs or usage plans: remove tracing, executionLogging and \
        throttle (use accessLogging, detailedMetrics and stageThrottle)",
    integrations_step: "Check the integrations and their response parameters: aws \
        apigatewayv2 get-integrations --region {region} --api-id {id}",
    access_log_fields: &[
        ("requestId", "$context.requestId"),
        ("requestTime", "$context.requestTime"),
        ("httpMethod", "$context.httpMethod"),
        ("routeKey", "$context.routeKey"),
        ("status", "$context.status"),
        ("responseLatency", "$context.responseLatency"),
        ("integrationStatus", "$context.integration.status"),
        ("integrationLatency", "$context.integration.latency"),
        (
            "integrationErrorMessage",
            "$context.integrationErrorMessage",
        ),
        ("errorMessage", "$context.error.message"),
    ],
};

const WEBSOCKET: Profile = Profile {
    kind: ApiKind::WebSocket,
    name: "WEBSOCKET",
    name_hash_prefix: "WEBSOCKET/",
    noun: "WebSocket API",
    article: "a",
    spec_field: "websocketApi",
    cli_kind: "websocket",
    cli_default: false,
    selected_by_default: false,
    stage_marker: " (WebSocket API)",
    service: Service::V2,
    protocol: Some("WEBSOCKET"),
    api_dimension: ApiDimension::Id,
    metrics: Metrics {
        server_errors: &["IntegrationError", "ExecutionError"],
        server_errors_label: "errors",
        client_errors: "ClientError",
        client_errors_label: "ClientError",
        traffic: "MessageCount",
        traffic_label: "Messages",
        latency: None,
        connections: Some("ConnectCount"),
    },
    integration_timeout_ms: 29_000.0,
    timeout_status: 504,
    throttle_status: 429,
    stage_settings: StageSettingsShape::RouteSettings,
    console: ConsolePage::ApiDetail,
    execution_logs: false,
    logs_through_account_role: true,
    route_keys: Some((
        r"^(\$connect|\$disconnect|\$default|[^$ ][^ ]*)$",
        "spec.stageThrottle.routes: a WebSocket API's route keys are $connect, $disconnect, \
         $default or a custom key such as 'sendMessage' (no spaces, no leading $)",
    )),
    refuses: &[
        (
            Section::Tracing,
            "spec.tracing: WebSocket APIs have no X-Ray tracing (API Gateway traces REST APIs \
             only); use executionLogging and accessLogging",
        ),
        (
            Section::UsagePlanThrottle,
            "spec.throttle: WebSocket APIs have no usage plans; use stageThrottle (and \
             stageThrottle.routes for single routes such as $connect)",
        ),
        (
            Section::ExecutionLoggingMetrics,
            "spec.executionLogging.detailedMetrics: on a WebSocket API, set \
             spec.detailedMetrics (the default route settings' DetailedMetricsEnabled)",
        ),
        (
            Section::LatencyAlarm,
            "spec.alarms.latency: WebSocket APIs publish no Latency metric; \
             alarms.integrationLatency is their backend's time",
        ),
        (
            Section::LatencyObjective,
            "spec.slo.latency: WebSocket APIs publish no Latency metric for a latency \
             objective; their objective is availability over messages",
        ),
    ],
    template_refusal: "spec.template: the selector takes WebSocket APIs only (apiKinds), which \
        have no X-Ray tracing, usage plans or Latency metric, and keep detailed metrics in \
        spec.detailedMetrics: remove tracing, throttle, executionLogging.detailedMetrics, \
        alarms.latency and slo.latency",
    integrations_step: "Check the routes' integrations and their timeouts: aws apigatewayv2 \
        get-integrations --region {region} --api-id {id}",
    access_log_fields: &[
        ("requestId", "$context.requestId"),
        ("requestTime", "$context.requestTime"),
        ("eventType", "$context.eventType"),
        ("routeKey", "$context.routeKey"),
        ("connectionId", "$context.connectionId"),
        ("status", "$context.status"),
        ("integrationStatus", "$context.integration.status"),
        ("integrationLatency", "$context.integration.latency"),
        ("integrationError", "$context.integration.error"),
        ("errorMessage", "$context.error.message"),
    ],
};

/// Every kind, in the order the CRDs and messages list them.
pub const KINDS: [ApiKind; 3] = [ApiKind::Rest, ApiKind::Http, ApiKind::WebSocket];

impl ApiKind {
    /// The kind's facts. The one `match` on a kind outside the AWS adapters.
    pub const fn profile(self) -> &'static Profile {
        match self {
            ApiKind::Rest => &REST,
            ApiKind::Http => &HTTP,
            ApiKind::WebSocket => &WEBSOCKET,
        }
    }

    /// "REST API" or "HTTP API", for messages.
    pub fn noun(self) -> &'static str {
        self.profile().noun
    }

    /// The v2 kind of `ProtocolType` `protocol` (`HTTP`, `WEBSOCKET`), if a guard guards it.
    pub fn of_v2_protocol(protocol: &str) -> Option<ApiKind> {
        KINDS
            .into_iter()
            .find(|kind| kind.profile().protocol == Some(protocol))
    }
}

impl Profile {
    /// Whether this kind has `section`.
    pub fn has(&self, section: Section) -> bool {
        !self.refuses.iter().any(|(refused, _)| *refused == section)
    }

    /// The sections `given` (a spec, a policy's template) has that this kind refuses, each
    /// with what the CRD says of it: `validate` reports the words, a policy leaves the
    /// sections out of the kind's guards.
    pub fn refused_in<'a>(
        &self,
        given: &'a impl Sections,
    ) -> impl Iterator<Item = &'static (Section, &'static str)> + 'a {
        self.refuses
            .iter()
            .filter(|(section, _)| given.has(*section))
    }

    /// The guard CRD's rules for this kind, CEL over the object (`self.spec`) with their
    /// messages: a spec naming such an API has none of the sections it refuses, and only
    /// route keys of its shape.
    pub fn guard_rules(&self) -> Vec<(String, &'static str)> {
        let routes = self.route_keys.map(|(pattern, message)| {
            (
                format!(
                    "!has(self.spec.{}) || !has(self.spec.stageThrottle) || \
                     !has(self.spec.stageThrottle.routes) || \
                     self.spec.stageThrottle.routes.all(k, k.matches('{}'))",
                    self.spec_field,
                    pattern.replace('\\', "\\\\")
                ),
                message,
            )
        });
        self.refuses
            .iter()
            .map(|(section, message)| {
                (
                    format!(
                        "!has(self.spec.{}) || {}",
                        self.spec_field,
                        section.absent("self.spec")
                    ),
                    *message,
                )
            })
            .chain(routes)
            .collect()
    }

    /// Whether `key` has the shape of this kind's route keys; no kind without routes has one.
    pub fn is_route_key(&self, key: &str) -> bool {
        self.route_keys.is_some_and(|(pattern, _)| {
            regex::Regex::new(pattern)
                .expect("a valid pattern")
                .is_match(key)
        })
    }

    /// The policy CRD's rule for this kind: a selector that takes it alone has a template
    /// without the sections it refuses. `None` for a kind that refuses none.
    pub fn template_rule(&self) -> Option<(String, &'static str)> {
        if self.refuses.is_empty() {
            return None;
        }
        let given: Vec<String> = self
            .refuses
            .iter()
            .map(|(section, _)| match section.present("self.template") {
                nested if nested.contains(" && ") => format!("({nested})"),
                one => one,
            })
            .collect();
        Some((
            format!(
                "!has(self.selector.apiKinds) || self.selector.apiKinds != ['{}'] || !({})",
                self.name,
                given.join(" || ")
            ),
            self.template_refusal,
        ))
    }

    /// [`Self::integrations_step`] for API `id` in `region`.
    pub fn check_integrations(&self, region: &str, id: &str) -> String {
        self.integrations_step
            .replace("{region}", region)
            .replace("{id}", id)
    }

    /// What `diagnose` needs told of this kind (` --kind http`): nothing for its default.
    pub fn diagnose_kind_flag(&self) -> String {
        match self.cli_default {
            true => String::new(),
            false => format!(" --kind {}", self.cli_kind),
        }
    }

    /// The JSON access log line the guard sets: one object per request with what the
    /// runbook's diagnosis reads (status, integration status, error and latency).
    pub fn access_log_format(&self) -> String {
        let body: Vec<String> = self
            .access_log_fields
            .iter()
            .map(|(key, variable)| format!("\"{key}\":\"{variable}\""))
            .collect();
        format!("{{{}}}", body.join(","))
    }
}

/// The guard CRD's rule that a guard names exactly one API, of one kind.
pub fn one_api_rule() -> String {
    let named: Vec<String> = KINDS
        .iter()
        .map(|kind| format!("has(self.spec.{})", kind.profile().spec_field))
        .collect();
    format!("[{}].filter(named, named).size() == 1", named.join(", "))
}

/// What the API server and `validate` say of a guard that names no API or more than one.
pub fn one_api() -> String {
    let fields: Vec<&str> = KINDS.iter().map(|k| k.profile().spec_field).collect();
    let (last, rest) = fields.split_last().expect("kinds of API");
    format!("spec: give exactly one of {} or {last}", rest.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_listed_once_and_has_its_own_profile() {
        for (i, kind) in KINDS.iter().enumerate() {
            assert_eq!(kind.profile().kind, *kind);
            assert!(!KINDS[..i].contains(kind));
        }
        // serde's names and the profiles' agree.
        for kind in KINDS {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.profile().name);
        }
        let fields: Vec<_> = KINDS.iter().map(|k| k.profile().spec_field).collect();
        assert_eq!(fields, ["restApi", "httpApi", "websocketApi"]);
        // v2's kinds are told apart by their ProtocolType, each its own.
        for kind in KINDS {
            let profile = kind.profile();
            assert_eq!(profile.protocol.is_some(), profile.service == Service::V2);
            if let Some(protocol) = profile.protocol {
                assert_eq!(ApiKind::of_v2_protocol(protocol), Some(kind));
            }
        }
    }

    #[test]
    fn diagnose_takes_one_kind_by_default() {
        let defaults: Vec<_> = KINDS.iter().filter(|k| k.profile().cli_default).collect();
        assert_eq!(defaults.len(), 1, "{defaults:?}");
    }

    #[test]
    fn the_rules_are_cel_over_the_refused_sections() {
        let rules = ApiKind::Rest.profile().guard_rules();
        assert_eq!(
            rules[1].0,
            "!has(self.spec.restApi) || !has(self.spec.stageThrottle) || !has(self.spec.stageThrottle.routes)"
        );
        let (rule, _) = ApiKind::Http.profile().template_rule().unwrap();
        assert_eq!(
            rule,
            "!has(self.selector.apiKinds) || self.selector.apiKinds != ['HTTP'] || \
             !(has(self.template.tracing) || has(self.template.executionLogging) || \
             has(self.template.throttle))"
        );
        // Fields the schema defaults count as given only with a value that asks for something.
        let (rule, _) = ApiKind::WebSocket.profile().template_rule().unwrap();
        assert!(
            rule.contains(
                "(has(self.template.executionLogging) && \
                 has(self.template.executionLogging.detailedMetrics) && \
                 self.template.executionLogging.detailedMetrics)"
            ),
            "{rule}"
        );
        let rules = ApiKind::WebSocket.profile().guard_rules();
        let latency = rules
            .iter()
            .find(|(_, m)| m.starts_with("spec.alarms.latency"));
        assert_eq!(
            latency.unwrap().0,
            "!has(self.spec.websocketApi) || !(has(self.spec.alarms) && \
             has(self.spec.alarms.latency) && (has(self.spec.alarms.latency.threshold) || \
             has(self.spec.alarms.latency.statistic) || \
             has(self.spec.alarms.latency.periodSeconds) || \
             has(self.spec.alarms.latency.evaluationPeriods) || \
             (has(self.spec.alarms.latency.enabled) && self.spec.alarms.latency.enabled)))"
        );
        assert_eq!(
            one_api_rule(),
            "[has(self.spec.restApi), has(self.spec.httpApi), has(self.spec.websocketApi)]\
             .filter(named, named).size() == 1"
        );
        assert_eq!(
            one_api(),
            "spec: give exactly one of restApi, httpApi or websocketApi"
        );
    }

    #[test]
    fn every_access_log_format_carries_the_request_id_aws_requires() {
        for kind in KINDS {
            assert!(
                kind.profile()
                    .access_log_format()
                    .contains("\"requestId\":\"$context.requestId\"")
            );
        }
    }
}
