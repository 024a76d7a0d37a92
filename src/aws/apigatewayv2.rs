//! The API Gateway v2 kinds (HTTP and WebSocket APIs) through aws-sdk-apigatewayv2: their
//! listing, stages and UpdateStage. The calls are metered under the API Gateway management
//! quota, which v1 and v2 share.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_apigatewayv2::Client;
use aws_sdk_apigatewayv2::types::{
    AccessLogSettings, ConnectionType, Integration, LoggingLevel, ProtocolType, Route,
    RouteSettings,
};

use super::apigateway::{ApiListing, tags};
use super::meter::Meter;
use crate::core::model::{
    AccessLog, ApiKind, AwsError, GuardedApi, MethodIntegration, MethodSettings, PatchOp,
    StageDeployment, StageSettings,
};

/// GetApis and GetStages page size. The v2 API documents no maximum (its default is 25);
/// 500, GetRestApis' maximum, keeps a region's listing to one or two calls.
const PAGE: &str = "500";

/// API Gateway v2 calls, through their own [`Meter`] (service `apigatewayv2`).
#[derive(Clone, Debug)]
pub(super) struct V2Apis {
    client: Client,
    meter: Meter,
}

impl V2Apis {
    pub(super) fn new(client: Client, meter: Meter) -> Self {
        Self { client, meter }
    }

    /// Every API GetApis lists (paged), each with its kind (by its ProtocolType).
    pub(super) async fn listing(&self) -> Result<ApiListing, AwsError> {
        let mut listing = ApiListing::default();
        let mut next_token = None;
        loop {
            let request = self
                .client
                .get_apis()
                .max_results(PAGE)
                .set_next_token(next_token.take())
                .send();
            let page = self.meter.call("GetApis", false, request).await?;
            listing.apis.extend(page.items().iter().filter_map(|api| {
                Some(GuardedApi {
                    kind: kind_of(api.protocol_type())?,
                    id: api.api_id().unwrap_or_default().to_owned(),
                    name: api.name().unwrap_or_default().to_owned(),
                    tags: tags(api.tags()),
                })
            }));
            match page.next_token() {
                Some(next) if !page.items().is_empty() => next_token = Some(next.to_owned()),
                _ => return Ok(listing),
            }
        }
    }

    /// GetApi; an API of another kind than `kind` is refused as such.
    pub(super) async fn get_api(&self, kind: ApiKind, id: &str) -> Result<GuardedApi, AwsError> {
        let request = self.client.get_api().api_id(id).send();
        let out = self.meter.call("GetApi", false, request).await?;
        let api = GuardedApi {
            kind,
            id: id.to_owned(),
            name: out.name().unwrap_or_default().to_owned(),
            tags: tags(out.tags()),
        };
        match kind_of(out.protocol_type()) {
            Some(found) if found == kind => Ok(api),
            found => Err(other_kind(
                kind,
                &GuardedApi {
                    kind: found.unwrap_or(kind),
                    ..api
                },
            )),
        }
    }

    /// Every stage of one API (GetStages, paged), by stage name.
    pub(super) async fn stages(
        &self,
        api_id: &str,
    ) -> Result<Vec<(String, StageSettings)>, AwsError> {
        let mut stages = Vec::new();
        let mut next_token = None;
        loop {
            let request = self
                .client
                .get_stages()
                .api_id(api_id)
                .max_results(PAGE)
                .set_next_token(next_token.take())
                .send();
            let page = self.meter.call("GetStages", false, request).await?;
            stages.extend(page.items().iter().map(|stage| {
                (
                    stage.stage_name().unwrap_or_default().to_owned(),
                    stage_settings(
                        stage.default_route_settings(),
                        stage.route_settings(),
                        stage.access_log_settings(),
                        deployment_of(
                            stage.deployment_id(),
                            stage.last_updated_date(),
                            stage.auto_deploy(),
                        ),
                    ),
                )
            }));
            match page.next_token() {
                Some(next) if !page.items().is_empty() => next_token = Some(next.to_owned()),
                _ => return Ok(stages),
            }
        }
    }

    pub(super) async fn get_stage(
        &self,
        api_id: &str,
        stage: &str,
    ) -> Result<StageSettings, AwsError> {
        let request = self
            .client
            .get_stage()
            .api_id(api_id)
            .stage_name(stage)
            .send();
        let out = self.meter.call("GetStage", false, request).await?;
        Ok(stage_settings(
            out.default_route_settings(),
            out.route_settings(),
            out.access_log_settings(),
            deployment_of(
                out.deployment_id(),
                out.last_updated_date(),
                out.auto_deploy(),
            ),
        ))
    }

    /// The API's route keys (GetRoutes, paged), e.g. `GET /pets`, `$default`.
    pub(super) async fn route_keys(&self, api_id: &str) -> Result<Vec<String>, AwsError> {
        let routes = self.routes(api_id).await?;
        Ok(routes
            .iter()
            .filter_map(|route| route.route_key().map(str::to_owned))
            .collect())
    }

    /// Every route of the API (GetRoutes, paged).
    async fn routes(&self, api_id: &str) -> Result<Vec<Route>, AwsError> {
        let mut routes: Vec<Route> = Vec::new();
        let mut next_token = None;
        loop {
            let request = self
                .client
                .get_routes()
                .api_id(api_id)
                .max_results(PAGE)
                .set_next_token(next_token.take())
                .send();
            let page = self.meter.call("GetRoutes", false, request).await?;
            routes.extend(page.items().iter().cloned());
            match page.next_token() {
                Some(next) if !page.items().is_empty() => next_token = Some(next.to_owned()),
                _ => return Ok(routes),
            }
        }
    }

    /// Every route's integration (GetRoutes and GetIntegrations, paged): one per route whose
    /// target is `integrations/<id>`, in route key order. Diagnose's read only.
    pub(super) async fn integrations(
        &self,
        api_id: &str,
    ) -> Result<Vec<MethodIntegration>, AwsError> {
        let routes = self.routes(api_id).await?;
        let mut next_token = None;
        let mut by_id: HashMap<String, Integration> = HashMap::new();
        loop {
            let request = self
                .client
                .get_integrations()
                .api_id(api_id)
                .max_results(PAGE)
                .set_next_token(next_token.take())
                .send();
            let page = self.meter.call("GetIntegrations", false, request).await?;
            for integration in page.items() {
                if let Some(id) = integration.integration_id() {
                    by_id.insert(id.to_owned(), integration.clone());
                }
            }
            match page.next_token() {
                Some(next) if !page.items().is_empty() => next_token = Some(next.to_owned()),
                _ => break,
            }
        }
        Ok(route_integrations(&routes, &by_id))
    }

    /// One UpdateStage with every op; nothing is sent when an op cannot be expressed.
    pub(super) async fn update_stage(
        &self,
        api_id: &str,
        stage: &str,
        ops: &[PatchOp],
    ) -> Result<(), AwsError> {
        let update = StageUpdate::parse(ops)?;
        let request = self
            .client
            .update_stage()
            .api_id(api_id)
            .stage_name(stage)
            .set_default_route_settings(update.default_route)
            .set_route_settings(update.routes)
            .set_access_log_settings(update.access_log)
            .send();
        self.meter
            .call("UpdateStage", true, request)
            .await
            .map(|_| ())
    }

    /// Points the stage at an earlier deployment (UpdateStage `DeploymentId`), ahead of every
    /// call waiting for the account's quota, as a REST API's rollback.
    pub(super) async fn roll_back_stage(
        &self,
        api_id: &str,
        stage: &str,
        deployment_id: &str,
    ) -> Result<(), AwsError> {
        let request = self
            .client
            .update_stage()
            .api_id(api_id)
            .stage_name(stage)
            .deployment_id(deployment_id)
            .send();
        self.meter
            .first_in_line()
            .call("UpdateStage", true, request)
            .await
            .map(|_| ())
    }

    /// When the deployment was made (GetDeployment's CreatedDate, epoch seconds).
    pub(super) async fn deployment_made(
        &self,
        api_id: &str,
        deployment_id: &str,
    ) -> Result<Option<i64>, AwsError> {
        let request = self
            .client
            .get_deployment()
            .api_id(api_id)
            .deployment_id(deployment_id)
            .send();
        let out = self.meter.call("GetDeployment", false, request).await?;
        Ok(out.created_date().map(|at| at.secs()))
    }

    pub(super) async fn delete_access_log_settings(
        &self,
        api_id: &str,
        stage: &str,
    ) -> Result<(), AwsError> {
        let request = self
            .client
            .delete_access_log_settings()
            .api_id(api_id)
            .stage_name(stage)
            .send();
        self.meter
            .call("DeleteAccessLogSettings", true, request)
            .await
            .map(|_| ())
    }
}

/// The kind of a v2 API's ProtocolType; `None` for one no guard guards.
fn kind_of(protocol: Option<&ProtocolType>) -> Option<ApiKind> {
    ApiKind::of_v2_protocol(protocol?.as_str())
}

/// The refusal of `found`, an API of another kind, named where `wanted` is: with the field
/// that takes it.
pub(super) fn other_kind(wanted: ApiKind, found: &GuardedApi) -> AwsError {
    let profile = found.kind.profile();
    AwsError::check(
        "WrongApiKind",
        format!(
            "API {} ({:?}) is {} {}: name it in spec.{}, not spec.{}",
            found.id,
            found.name,
            profile.article,
            profile.noun,
            profile.spec_field,
            wanted.profile().spec_field
        ),
    )
}

/// The integration each route targets (`integrations/<id>`), sorted by path then method; a
/// route without one (no target yet, or an integration GetIntegrations did not list) is left out.
fn route_integrations(
    routes: &[Route],
    integrations: &HashMap<String, Integration>,
) -> Vec<MethodIntegration> {
    let mut out: Vec<MethodIntegration> = routes
        .iter()
        .filter_map(|route| {
            let id = route.target()?.strip_prefix("integrations/")?;
            let integration = integrations.get(id)?;
            let (method, path) = route_method_path(route.route_key().unwrap_or_default());
            Some(MethodIntegration {
                path,
                method,
                kind: integration
                    .integration_type()
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default(),
                uri: integration.integration_uri().map(str::to_owned),
                timeout_ms: integration.timeout_in_millis(),
                vpc_link: (integration.connection_type() == Some(&ConnectionType::VpcLink))
                    .then(|| integration.connection_id().unwrap_or_default().to_owned()),
            })
        })
        .collect();
    out.sort_by(|a, b| (&a.path, &a.method).cmp(&(&b.path, &b.method)));
    out
}

/// A route key's method and path: `GET /pets`, `ANY /{proxy+}`; `$default` is any method on
/// any path not routed otherwise.
fn route_method_path(key: &str) -> (String, String) {
    match key.split_once(' ') {
        Some((method, path)) => (method.to_owned(), path.to_owned()),
        None => ("ANY".to_owned(), key.to_owned()),
    }
}

/// The deployment a v2 stage serves, when it serves one; v2 stages have no canary.
fn deployment_of(
    id: Option<&str>,
    updated: Option<&aws_sdk_apigatewayv2::primitives::DateTime>,
    auto_deploy: Option<bool>,
) -> Option<StageDeployment> {
    Some(StageDeployment {
        id: id?.to_owned(),
        updated_at: updated.map(|at| at.secs()),
        canary: None,
        auto_deploy: auto_deploy.unwrap_or(false),
    })
}

/// The managed settings of a v2 stage. The v2 SDK keeps absent fields `None`, so a setting
/// AWS did not return stays unknown; HTTP APIs have no execution logs (a WebSocket API's are
/// route settings) and no v2 kind has X-Ray, so those stay `None` there.
fn stage_settings(
    default_route: Option<&RouteSettings>,
    routes: Option<&HashMap<String, RouteSettings>>,
    access_log: Option<&AccessLogSettings>,
    deployment: Option<StageDeployment>,
) -> StageSettings {
    let settings = |route: &RouteSettings| MethodSettings {
        logging_level: route.logging_level().map(|l| l.as_str().to_owned()),
        data_trace: route.data_trace_enabled(),
        metrics: route.detailed_metrics_enabled(),
        rate_limit: route.throttling_rate_limit(),
        burst_limit: route.throttling_burst_limit(),
    };
    StageSettings {
        tracing_enabled: None,
        all_methods: default_route.map(settings).unwrap_or_default(),
        routes: routes
            .into_iter()
            .flatten()
            .map(|(key, route)| (key.clone(), settings(route)))
            .collect::<BTreeMap<_, _>>(),
        access_log: access_log.and_then(|log| {
            Some(AccessLog {
                destination_arn: log.destination_arn()?.to_owned(),
                format: log.format().unwrap_or_default().to_owned(),
            })
        }),
        deployment,
    }
}

/// The fields of one v2 UpdateStage, read from the ops' paths: `/defaultRouteSettings/<field>`,
/// `/routeSettings/<route key>/<field>` (a key such as `GET /pets/{id}` holds '/' and a
/// space, so the field is what follows the last '/') and `/accessLogSettings/<field>`.
#[derive(Debug, Default, PartialEq)]
struct StageUpdate {
    default_route: Option<RouteSettings>,
    routes: Option<HashMap<String, RouteSettings>>,
    access_log: Option<AccessLogSettings>,
}

impl StageUpdate {
    /// Every op's path and value in the request, or the first that has no place in it.
    /// AWS replaces the access log settings whole, so their two fields come together.
    fn parse(ops: &[PatchOp]) -> Result<Self, AwsError> {
        let mut update = StageUpdate::default();
        let mut access_log = (None, None);
        for op in ops {
            if let Some(field) = op.path.strip_prefix("/defaultRouteSettings/") {
                let route = update
                    .default_route
                    .get_or_insert_with(|| RouteSettings::builder().build());
                set_route_field(route, field, op)?;
            } else if let Some(rest) = op.path.strip_prefix("/routeSettings/") {
                let (key, field) = rest
                    .rsplit_once('/')
                    .filter(|(key, _)| !key.is_empty())
                    .ok_or_else(|| unsupported(op, "no route key"))?;
                let route = update
                    .routes
                    .get_or_insert_with(HashMap::new)
                    .entry(key.to_owned())
                    .or_insert_with(|| RouteSettings::builder().build());
                set_route_field(route, field, op)?;
            } else {
                match op.path.as_str() {
                    "/accessLogSettings/destinationArn" => access_log.0 = Some(op.value.clone()),
                    "/accessLogSettings/format" => access_log.1 = Some(op.value.clone()),
                    _ => return Err(unsupported(op, "no HTTP API stage field has this path")),
                }
            }
        }
        update.access_log = match access_log {
            (None, None) => None,
            (Some(arn), Some(format)) => Some(
                AccessLogSettings::builder()
                    .destination_arn(arn)
                    .format(format)
                    .build(),
            ),
            _ => {
                return Err(AwsError::permanent(
                    "UpdateStage",
                    "UnsupportedPatch",
                    "an HTTP API stage's access log settings are replaced whole: set \
                     /accessLogSettings/destinationArn and /accessLogSettings/format together",
                ));
            }
        };
        Ok(update)
    }
}

/// Sets the route settings field `field` names from the op's value.
fn set_route_field(route: &mut RouteSettings, field: &str, op: &PatchOp) -> Result<(), AwsError> {
    let invalid = || unsupported(op, "the value does not parse");
    match field {
        "detailedMetricsEnabled" => {
            route.detailed_metrics_enabled = Some(op.value.parse().map_err(|_| invalid())?)
        }
        "throttlingRateLimit" => {
            route.throttling_rate_limit = Some(op.value.parse().map_err(|_| invalid())?)
        }
        "throttlingBurstLimit" => {
            route.throttling_burst_limit = Some(op.value.parse().map_err(|_| invalid())?)
        }
        "loggingLevel" => {
            route.logging_level = Some(match op.value.as_str() {
                "OFF" => LoggingLevel::Off,
                "ERROR" => LoggingLevel::Error,
                "INFO" => LoggingLevel::Info,
                _ => return Err(invalid()),
            })
        }
        "dataTraceEnabled" => {
            route.data_trace_enabled = Some(op.value.parse().map_err(|_| invalid())?)
        }
        _ => return Err(unsupported(op, "no route settings field has this name")),
    }
    Ok(())
}

/// An op UpdateStage cannot carry: refused before any call, never dropped.
fn unsupported(op: &PatchOp, why: &str) -> AwsError {
    AwsError::permanent(
        "UpdateStage",
        "UnsupportedPatch",
        format!("{} = {:?}: {why}", op.path, op.value),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(path: &str, value: &str) -> PatchOp {
        PatchOp {
            path: path.to_owned(),
            value: value.to_owned(),
            remove: false,
        }
    }

    #[test]
    fn ops_become_one_request_with_only_the_fields_they_name() {
        let update = StageUpdate::parse(&[
            op("/defaultRouteSettings/throttlingRateLimit", "900"),
            op("/defaultRouteSettings/detailedMetricsEnabled", "true"),
            op("/routeSettings/GET /pets/{id}/throttlingBurstLimit", "20"),
            op("/routeSettings/ANY /{proxy+}/throttlingRateLimit", "2.5"),
            op(
                "/accessLogSettings/destinationArn",
                "arn:aws:logs:eu-west-1:1:log-group:g",
            ),
            op(
                "/accessLogSettings/format",
                "{\"requestId\":\"$context.requestId\"}",
            ),
        ])
        .unwrap();
        let default_route = update.default_route.unwrap();
        assert_eq!(default_route.throttling_rate_limit, Some(900.0));
        assert_eq!(default_route.detailed_metrics_enabled, Some(true));
        assert_eq!(
            default_route.throttling_burst_limit, None,
            "a field no op names is left out, so AWS keeps it"
        );
        let routes = update.routes.unwrap();
        assert_eq!(routes.len(), 2);
        let pets = &routes["GET /pets/{id}"];
        assert_eq!(pets.throttling_burst_limit, Some(20));
        assert_eq!(pets.throttling_rate_limit, None);
        assert_eq!(routes["ANY /{proxy+}"].throttling_rate_limit, Some(2.5));
        let access_log = update.access_log.unwrap();
        assert_eq!(
            access_log.destination_arn(),
            Some("arn:aws:logs:eu-west-1:1:log-group:g")
        );
        assert_eq!(
            access_log.format(),
            Some("{\"requestId\":\"$context.requestId\"}")
        );
    }

    #[test]
    fn a_throttle_alone_leaves_routes_and_access_logs_out() {
        let update =
            StageUpdate::parse(&[op("/defaultRouteSettings/throttlingBurstLimit", "450")]).unwrap();
        assert_eq!(update.routes, None);
        assert_eq!(update.access_log, None);
    }

    #[test]
    fn an_op_without_a_place_in_the_request_is_refused() {
        for (path, value) in [
            ("/*/*/throttling/rateLimit", "900"),
            ("/defaultRouteSettings/loggingLevel", "LOUD"),
            ("/defaultRouteSettings/throttlingBurst", "9"),
            ("/routeSettings/throttlingRateLimit", "9"),
            ("/routeSettings/GET /pets/throttlingRateLimit", "fast"),
            ("/defaultRouteSettings/detailedMetricsEnabled", "yes"),
            ("/accessLogSettings/format", "$context.requestId"),
        ] {
            let err = StageUpdate::parse(&[op(path, value)]).unwrap_err();
            assert!(!err.retryable, "{path}");
            assert_eq!(
                (err.operation, err.code.as_str()),
                ("UpdateStage", "UnsupportedPatch")
            );
        }
    }

    #[test]
    fn a_stage_keeps_what_aws_left_out_unknown() {
        let default_route = RouteSettings::builder()
            .detailed_metrics_enabled(false)
            .build();
        let routes = HashMap::from([(
            "GET /pets".to_owned(),
            RouteSettings::builder()
                .throttling_rate_limit(5.0)
                .throttling_burst_limit(2)
                .build(),
        )]);
        let settings = stage_settings(Some(&default_route), Some(&routes), None, None);
        assert_eq!(
            settings.all_methods,
            MethodSettings {
                metrics: Some(false),
                ..MethodSettings::default()
            }
        );
        assert_eq!(settings.routes["GET /pets"].burst_limit, Some(2));
        assert_eq!(settings.routes["GET /pets"].metrics, None);
        assert_eq!(
            (settings.tracing_enabled, settings.access_log),
            (None, None)
        );
    }

    #[test]
    fn routes_are_read_with_the_integrations_they_target() {
        use aws_sdk_apigatewayv2::types::IntegrationType;
        let route = |key: &str, target: Option<&str>| {
            Route::builder()
                .route_key(key)
                .set_target(target.map(str::to_owned))
                .build()
        };
        let routes = [
            route("GET /pets", Some("integrations/lam")),
            route("$default", Some("integrations/web")),
            route("POST /orders", Some("integrations/vpc")),
            route("DELETE /pets", None),
            route("PUT /gone", Some("integrations/missing")),
        ];
        let integrations: HashMap<String, Integration> = [
            Integration::builder()
                .integration_id("lam")
                .integration_type(IntegrationType::AwsProxy)
                .integration_uri("arn:aws:lambda:us-east-1:123456789012:function:pets")
                .build(),
            Integration::builder()
                .integration_id("web")
                .integration_type(IntegrationType::HttpProxy)
                .integration_uri("https://example.com")
                .timeout_in_millis(5_000)
                .build(),
            Integration::builder()
                .integration_id("vpc")
                .integration_type(IntegrationType::HttpProxy)
                .integration_uri("arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/x")
                .connection_type(ConnectionType::VpcLink)
                .connection_id("vl1")
                .build(),
        ]
        .into_iter()
        .map(|i| (i.integration_id().unwrap().to_owned(), i))
        .collect();
        let read = route_integrations(&routes, &integrations);
        let summary: Vec<_> = read
            .iter()
            .map(|i| {
                (
                    i.method.as_str(),
                    i.path.as_str(),
                    i.kind.as_str(),
                    i.timeout_ms,
                    i.vpc_link.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("ANY", "$default", "HTTP_PROXY", Some(5_000), None),
                ("POST", "/orders", "HTTP_PROXY", None, Some("vl1")),
                ("GET", "/pets", "AWS_PROXY", None, None),
            ]
        );
        assert_eq!(
            read[2].uri.as_deref(),
            Some("arn:aws:lambda:us-east-1:123456789012:function:pets")
        );
    }
}
