//! The aws-sdk implementation of [`ApiGateway`]: REST APIs through aws-sdk-apigateway here,
//! HTTP and WebSocket APIs through aws-sdk-apigatewayv2 ([`V2Apis`]).

use std::collections::HashMap;

use aws_sdk_apigateway::Client;
use aws_sdk_apigateway::types::{
    AccessLogSettings, ApiStage, ConnectionType, Op, PatchOperation, ThrottleSettings,
};

use super::ApiGateway;
use super::apigatewayv2::{V2Apis, other_kind};
use super::meter::Meter;
use crate::core::crd::ResourceRef;
use crate::core::kind::Service;
use crate::core::model::{
    AccessLog, Account, ApiKind, AwsError, Canary, GuardedApi, MethodIntegration, MethodSettings,
    PatchOp, StageDeployment, StageSettings, UsagePlan,
};

/// The method-settings key that covers every resource and method of a stage.
const ALL_METHODS: &str = "*/*";
/// GetRestApis and GetUsagePlans page size (AWS's maximum).
const PAGE: i32 = 500;

/// The APIs of one service in a region, as its listing call returns them: every v2 kind
/// (HTTP and WebSocket APIs) comes in one GetApis listing, each API with its kind.
#[derive(Clone, Debug, Default)]
pub(super) struct ApiListing {
    pub(super) apis: Vec<GuardedApi>,
}

/// API Gateway through the AWS SDK, v1 for REST APIs and v2 for HTTP and WebSocket APIs
/// (each kind's [`Service`]); every call goes through a [`Meter`].
#[derive(Clone, Debug)]
pub struct SdkApiGateway {
    client: Client,
    meter: Meter,
    v2: V2Apis,
}

impl SdkApiGateway {
    /// `v2` is the API Gateway v2 client and its meter, for the v2 kinds.
    pub fn new(client: Client, meter: Meter, v2: (aws_sdk_apigatewayv2::Client, Meter)) -> Self {
        Self {
            client,
            meter,
            v2: V2Apis::new(v2.0, v2.1),
        }
    }

    /// The API Gateway v2 calls, for what only diagnose reads of the v2 kinds.
    pub(super) fn v2(&self) -> &V2Apis {
        &self.v2
    }

    /// Every API of the kind's service in the region (GetRestApis or GetApis, paged).
    pub(super) async fn listing(&self, kind: ApiKind) -> Result<ApiListing, AwsError> {
        match kind.profile().service {
            Service::V1 => Ok(ApiListing {
                apis: self.rest_apis().await?,
            }),
            Service::V2 => self.v2.listing().await,
        }
    }

    /// Every stage of one API, by stage name (GetStages).
    pub(super) async fn stages(
        &self,
        kind: ApiKind,
        api_id: &str,
    ) -> Result<Vec<(String, StageSettings)>, AwsError> {
        match kind.profile().service {
            Service::V1 => self.rest_stages(api_id).await,
            Service::V2 => self.v2.stages(api_id).await,
        }
    }

    /// Every REST API of the region (GetRestApis, paged).
    async fn rest_apis(&self) -> Result<Vec<GuardedApi>, AwsError> {
        let mut apis = Vec::new();
        let mut position = None;
        loop {
            let request = self
                .client
                .get_rest_apis()
                .limit(PAGE)
                .set_position(position.take())
                .send();
            let page = self.meter.call("GetRestApis", false, request).await?;
            apis.extend(page.items().iter().map(|api| GuardedApi {
                kind: ApiKind::Rest,
                id: api.id().unwrap_or_default().to_owned(),
                name: api.name().unwrap_or_default().to_owned(),
                tags: tags(api.tags()),
            }));
            match page.position() {
                Some(next) if !page.items().is_empty() => position = Some(next.to_owned()),
                _ => return Ok(apis),
            }
        }
    }

    /// Every stage of one REST API in one call (GetStages), by stage name.
    async fn rest_stages(&self, api_id: &str) -> Result<Vec<(String, StageSettings)>, AwsError> {
        let request = self.client.get_stages().rest_api_id(api_id).send();
        let out = self.meter.call("GetStages", false, request).await?;
        Ok(out
            .item()
            .iter()
            .map(|stage| {
                (
                    stage.stage_name().unwrap_or_default().to_owned(),
                    stage_settings(
                        stage.tracing_enabled(),
                        stage.method_settings(),
                        stage.access_log_settings(),
                        deployment_of(
                            stage.deployment_id(),
                            stage.last_updated_date(),
                            stage.canary_settings(),
                        ),
                    ),
                )
            })
            .collect())
    }

    /// The account's API Gateway settings (GetAccount).
    pub async fn account(&self) -> Result<Account, AwsError> {
        let out = self
            .meter
            .call("GetAccount", false, self.client.get_account().send())
            .await?;
        Ok(Account {
            cloudwatch_role_arn: out
                .cloudwatch_role_arn()
                .filter(|arn| !arn.is_empty())
                .map(str::to_owned),
            rate_limit: out.throttle_settings().map(|t| t.rate_limit()),
            burst_limit: out.throttle_settings().map(|t| t.burst_limit()),
        })
    }

    /// Every method's integration (GetResources with the methods embedded, paged).
    pub async fn integrations(&self, api_id: &str) -> Result<Vec<MethodIntegration>, AwsError> {
        let mut integrations = Vec::new();
        let mut position = None;
        loop {
            let request = self
                .client
                .get_resources()
                .rest_api_id(api_id)
                .embed("methods")
                .limit(PAGE)
                .set_position(position.take())
                .send();
            let page = self.meter.call("GetResources", false, request).await?;
            for resource in page.items() {
                let mut methods: Vec<_> =
                    resource.resource_methods().into_iter().flatten().collect();
                methods.sort_by(|a, b| a.0.cmp(b.0));
                for (verb, method) in methods {
                    if let Some(integration) = method.method_integration() {
                        integrations.push(MethodIntegration {
                            path: resource.path().unwrap_or_default().to_owned(),
                            method: verb.clone(),
                            kind: integration
                                .r#type()
                                .map(|t| t.as_str().to_owned())
                                .unwrap_or_default(),
                            uri: integration.uri().map(str::to_owned),
                            // The SDK reads an absent timeout as 0: API Gateway's default.
                            timeout_ms: Some(integration.timeout_in_millis()).filter(|ms| *ms > 0),
                            vpc_link: (integration.connection_type()
                                == Some(&ConnectionType::VpcLink))
                            .then(|| integration.connection_id().unwrap_or_default().to_owned()),
                        });
                    }
                }
            }
            match page.position() {
                Some(next) if !page.items().is_empty() => position = Some(next.to_owned()),
                _ => return Ok(integrations),
            }
        }
    }

    /// Every usage plan of the region with its name (GetUsagePlans, paged).
    pub async fn usage_plans(&self) -> Result<Vec<(String, UsagePlan)>, AwsError> {
        let mut plans = Vec::new();
        let mut position = None;
        loop {
            let request = self
                .client
                .get_usage_plans()
                .limit(PAGE)
                .set_position(position.take())
                .send();
            let page = self.meter.call("GetUsagePlans", false, request).await?;
            plans.extend(page.items().iter().map(|plan| {
                (
                    plan.name().unwrap_or_default().to_owned(),
                    usage_plan(
                        plan.id().unwrap_or_default(),
                        plan.throttle(),
                        plan.api_stages(),
                    ),
                )
            }));
            match page.position() {
                Some(next) if !page.items().is_empty() => position = Some(next.to_owned()),
                _ => return Ok(plans),
            }
        }
    }

    /// A REST stage's UpdateStage with these patch operations.
    async fn patch_stage(
        &self,
        api_id: &str,
        stage: &str,
        operations: Vec<PatchOperation>,
    ) -> Result<(), AwsError> {
        self.patch_stage_metered(&self.meter, api_id, stage, operations)
            .await
    }

    async fn patch_stage_metered(
        &self,
        meter: &Meter,
        api_id: &str,
        stage: &str,
        operations: Vec<PatchOperation>,
    ) -> Result<(), AwsError> {
        let request = self
            .client
            .update_stage()
            .rest_api_id(api_id)
            .stage_name(stage)
            .set_patch_operations(Some(operations))
            .send();
        meter.call("UpdateStage", true, request).await.map(|_| ())
    }
}

/// The managed settings from a REST stage's GetStage or GetStages fields. The SDK's output
/// types already default absent booleans and numbers, so absence survives only at the level
/// of the `*/*` entry: none until it is first patched.
fn stage_settings(
    tracing_enabled: bool,
    method_settings: Option<&HashMap<String, aws_sdk_apigateway::types::MethodSetting>>,
    access_log: Option<&AccessLogSettings>,
    deployment: Option<StageDeployment>,
) -> StageSettings {
    let all_methods = method_settings
        .and_then(|settings| settings.get(ALL_METHODS))
        .map(|m| MethodSettings {
            logging_level: m.logging_level().map(str::to_owned),
            data_trace: Some(m.data_trace_enabled()),
            metrics: Some(m.metrics_enabled()),
            rate_limit: Some(m.throttling_rate_limit()),
            burst_limit: Some(m.throttling_burst_limit()),
        })
        .unwrap_or_default();
    StageSettings {
        tracing_enabled: Some(tracing_enabled),
        all_methods,
        routes: Default::default(),
        access_log: access_log.and_then(|log| {
            Some(AccessLog {
                destination_arn: log.destination_arn()?.to_owned(),
                format: log.format().unwrap_or_default().to_owned(),
            })
        }),
        deployment,
    }
}

/// The deployment a stage serves, from its GetStage or GetStages fields.
fn deployment_of(
    id: Option<&str>,
    updated: Option<&aws_sdk_apigateway::primitives::DateTime>,
    canary: Option<&aws_sdk_apigateway::types::CanarySettings>,
) -> Option<StageDeployment> {
    Some(StageDeployment {
        id: id?.to_owned(),
        updated_at: updated.map(|at| at.secs()),
        canary: canary.map(|canary| Canary {
            deployment_id: canary.deployment_id().map(str::to_owned),
            percent_traffic: canary.percent_traffic(),
        }),
        auto_deploy: false,
    })
}

fn patch(ops: &[PatchOp]) -> Vec<PatchOperation> {
    ops.iter()
        .map(|op| match op.remove {
            true => PatchOperation::builder()
                .op(Op::Remove)
                .path(&op.path)
                .build(),
            false => PatchOperation::builder()
                .op(Op::Replace)
                .path(&op.path)
                .value(&op.value)
                .build(),
        })
        .collect()
}

/// Exactly one match by name, or an error naming what was looked for.
pub(super) fn unique<T>(
    what: &str,
    name: &str,
    mut found: Vec<T>,
    operation: &'static str,
) -> Result<T, AwsError> {
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(AwsError::permanent(
            operation,
            "NotFoundException",
            format!("no {what} named {name:?}"),
        )),
        n => Err(AwsError::permanent(
            operation,
            "AmbiguousName",
            format!("{n} {what}s are named {name:?}; name it by id instead"),
        )),
    }
}

fn usage_plan(id: &str, throttle: Option<&ThrottleSettings>, stages: &[ApiStage]) -> UsagePlan {
    UsagePlan {
        id: id.to_owned(),
        rate_limit: throttle.map(|t| t.rate_limit()),
        burst_limit: throttle.map(|t| t.burst_limit()),
        api_stages: stages
            .iter()
            .map(|s| {
                (
                    s.api_id().unwrap_or_default().to_owned(),
                    s.stage().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
    }
}

pub(super) fn tags(
    tags: Option<&std::collections::HashMap<String, String>>,
) -> std::collections::BTreeMap<String, String> {
    tags.into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The call that lists APIs of the kind, which a lookup in its listing answers for.
fn listing_operation(kind: ApiKind) -> &'static str {
    match kind.profile().service {
        Service::V1 => "GetRestApis",
        Service::V2 => "GetApis",
    }
}

/// The API `by` names (by id, else by unique name) in a listing of its kind's service; an API
/// of another kind of the service is refused as such, naming the field for it.
pub(super) fn find_listed(
    kind: ApiKind,
    listing: &ApiListing,
    by: &ResourceRef,
) -> Result<GuardedApi, AwsError> {
    let named = |id: &str, name: &str| match &by.id {
        Some(want) => id == want,
        None => by.name.as_deref() == Some(name),
    };
    let (found, others): (Vec<GuardedApi>, Vec<GuardedApi>) = listing
        .apis
        .iter()
        .filter(|api| named(&api.id, &api.name))
        .cloned()
        .partition(|api| api.kind == kind);
    if found.is_empty()
        && let Some(other) = others.first()
    {
        return Err(other_kind(kind, other));
    }
    let operation = listing_operation(kind);
    match &by.id {
        Some(id) => found.into_iter().next().ok_or_else(|| {
            AwsError::permanent(
                operation,
                "NotFoundException",
                format!("no {} {id}", kind.noun()),
            )
        }),
        None => unique(
            kind.noun(),
            by.name.as_deref().unwrap_or_default(),
            found,
            operation,
        ),
    }
}

impl ApiGateway for SdkApiGateway {
    async fn find_api(&self, kind: ApiKind, by: &ResourceRef) -> Result<GuardedApi, AwsError> {
        if let Some(id) = &by.id {
            return self.get_api(kind, id).await;
        }
        find_listed(kind, &self.listing(kind).await?, by)
    }

    async fn list_apis(&self, kind: ApiKind) -> Result<Vec<GuardedApi>, AwsError> {
        let mut apis = self.listing(kind).await?.apis;
        apis.retain(|api| api.kind == kind);
        Ok(apis)
    }

    async fn stage_names(&self, kind: ApiKind, api_id: &str) -> Result<Vec<String>, AwsError> {
        Ok(self
            .stages(kind, api_id)
            .await?
            .into_iter()
            .map(|(name, _)| name)
            .collect())
    }

    async fn get_api(&self, kind: ApiKind, id: &str) -> Result<GuardedApi, AwsError> {
        if let Service::V2 = kind.profile().service {
            return self.v2.get_api(kind, id).await;
        }
        let request = self.client.get_rest_api().rest_api_id(id).send();
        let out = self.meter.call("GetRestApi", false, request).await?;
        Ok(GuardedApi {
            kind,
            id: id.to_owned(),
            name: out.name().unwrap_or_default().to_owned(),
            tags: tags(out.tags()),
        })
    }

    async fn get_stage(
        &self,
        kind: ApiKind,
        api_id: &str,
        stage: &str,
    ) -> Result<StageSettings, AwsError> {
        if let Service::V2 = kind.profile().service {
            return self.v2.get_stage(api_id, stage).await;
        }
        let request = self
            .client
            .get_stage()
            .rest_api_id(api_id)
            .stage_name(stage)
            .send();
        let out = self.meter.call("GetStage", false, request).await?;
        Ok(stage_settings(
            out.tracing_enabled(),
            out.method_settings(),
            out.access_log_settings(),
            deployment_of(
                out.deployment_id(),
                out.last_updated_date(),
                out.canary_settings(),
            ),
        ))
    }

    async fn update_stage(
        &self,
        kind: ApiKind,
        api_id: &str,
        stage: &str,
        ops: &[PatchOp],
    ) -> Result<(), AwsError> {
        match kind.profile().service {
            Service::V1 => self.patch_stage(api_id, stage, patch(ops)).await,
            Service::V2 => self.v2.update_stage(api_id, stage, ops).await,
        }
    }

    async fn roll_back_stage(
        &self,
        kind: ApiKind,
        api_id: &str,
        stage: &str,
        deployment_id: &str,
    ) -> Result<(), AwsError> {
        if let Service::V2 = kind.profile().service {
            return self.v2.roll_back_stage(api_id, stage, deployment_id).await;
        }
        let op = PatchOp {
            path: "/deploymentId".to_owned(),
            value: deployment_id.to_owned(),
            remove: false,
        };
        let first = self.meter.first_in_line();
        self.patch_stage_metered(&first, api_id, stage, patch(&[op]))
            .await
    }

    async fn route_keys(&self, api_id: &str) -> Result<Vec<String>, AwsError> {
        self.v2.route_keys(api_id).await
    }

    async fn deployment_made(
        &self,
        kind: ApiKind,
        api_id: &str,
        deployment_id: &str,
    ) -> Result<Option<i64>, AwsError> {
        if let Service::V2 = kind.profile().service {
            return self.v2.deployment_made(api_id, deployment_id).await;
        }
        let request = self
            .client
            .get_deployment()
            .rest_api_id(api_id)
            .deployment_id(deployment_id)
            .send();
        let out = self.meter.call("GetDeployment", false, request).await?;
        Ok(out.created_date().map(|at| at.secs()))
    }

    async fn disable_access_logs(&self, api_id: &str, stage: &str) -> Result<(), AwsError> {
        self.v2.delete_access_log_settings(api_id, stage).await
    }

    async fn find_usage_plan(&self, by: &ResourceRef) -> Result<UsagePlan, AwsError> {
        if let Some(id) = &by.id {
            let request = self.client.get_usage_plan().usage_plan_id(id).send();
            let out = self.meter.call("GetUsagePlan", false, request).await?;
            return Ok(usage_plan(id, out.throttle(), out.api_stages()));
        }
        let name = by.name.as_deref().unwrap_or_default();
        let found = self
            .usage_plans()
            .await?
            .into_iter()
            .filter(|(plan_name, _)| plan_name == name)
            .map(|(_, plan)| plan)
            .collect();
        unique("usage plan", name, found, "GetUsagePlans")
    }

    async fn update_usage_plan(&self, id: &str, ops: &[PatchOp]) -> Result<(), AwsError> {
        let request = self
            .client
            .update_usage_plan()
            .usage_plan_id(id)
            .set_patch_operations(Some(patch(ops)))
            .send();
        self.meter
            .in_turn(id)
            .call("UpdateUsagePlan", true, request)
            .await
            .map(|_| ())
    }

    async fn cloudwatch_role_arn(&self) -> Result<Option<String>, AwsError> {
        Ok(self.account().await?.cloudwatch_role_arn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_name(name: &str) -> ResourceRef {
        ResourceRef {
            id: None,
            name: Some(name.to_owned()),
        }
    }

    /// One GetApis listing serves both v2 kinds: each kind finds its own, and an API of the
    /// other kind is refused naming the field that takes it.
    #[test]
    fn a_v2_api_is_found_by_its_kind_and_one_of_the_other_kind_refused_as_such() {
        let api = |kind, id: &str, name: &str| GuardedApi {
            kind,
            id: id.to_owned(),
            name: name.to_owned(),
            ..GuardedApi::default()
        };
        let listing = ApiListing {
            apis: vec![
                api(ApiKind::Http, "a1", "orders"),
                api(ApiKind::WebSocket, "w1", "chat"),
            ],
        };
        let found = find_listed(ApiKind::Http, &listing, &by_name("orders")).unwrap();
        assert_eq!(found.id, "a1");
        let found = find_listed(ApiKind::WebSocket, &listing, &by_name("chat")).unwrap();
        assert_eq!((found.id.as_str(), found.kind), ("w1", ApiKind::WebSocket));
        let by_id = ResourceRef {
            id: Some("w1".to_owned()),
            name: None,
        };
        for by in [by_name("chat"), by_id] {
            let err = find_listed(ApiKind::Http, &listing, &by).unwrap_err();
            assert_eq!(err.code, "WrongApiKind");
            assert!(
                err.message
                    .contains("is a WebSocket API: name it in spec.websocketApi"),
                "{err}"
            );
        }
        let err = find_listed(ApiKind::WebSocket, &listing, &by_name("orders")).unwrap_err();
        assert!(
            err.message
                .contains("is an HTTP API: name it in spec.httpApi"),
            "{err}"
        );
        let missing = find_listed(ApiKind::Http, &listing, &by_name("users")).unwrap_err();
        assert_eq!(
            (missing.operation, missing.code.as_str()),
            ("GetApis", "NotFoundException"),
            "missing from the listing: worth a fresh one"
        );
    }
}
