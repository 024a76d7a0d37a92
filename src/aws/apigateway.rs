//! The aws-sdk-apigateway implementation of [`ApiGateway`].

use std::collections::HashMap;

use aws_sdk_apigateway::Client;
use aws_sdk_apigateway::types::{ApiStage, ConnectionType, Op, PatchOperation, ThrottleSettings};

use super::ApiGateway;
use super::meter::Meter;
use crate::crd::ResourceRef;
use crate::model::{
    Account, AwsError, MethodIntegration, MethodSettings, PatchOp, RestApi, StageSettings,
    UsagePlan,
};

/// The method-settings key that covers every resource and method of a stage.
const ALL_METHODS: &str = "*/*";
/// GetRestApis and GetUsagePlans page size (AWS's maximum).
const PAGE: i32 = 500;

/// API Gateway through the AWS SDK; every call goes through the [`Meter`].
#[derive(Clone, Debug)]
pub struct SdkApiGateway {
    client: Client,
    meter: Meter,
}

impl SdkApiGateway {
    pub fn new(client: Client, meter: Meter) -> Self {
        Self { client, meter }
    }

    /// Every REST API of the region (GetRestApis, paged).
    pub async fn rest_apis(&self) -> Result<Vec<RestApi>, AwsError> {
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
            apis.extend(page.items().iter().map(|api| RestApi {
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
    pub async fn stages(&self, api_id: &str) -> Result<Vec<(String, StageSettings)>, AwsError> {
        let request = self.client.get_stages().rest_api_id(api_id).send();
        let out = self.meter.call("GetStages", false, request).await?;
        Ok(out
            .item()
            .iter()
            .map(|stage| {
                (
                    stage.stage_name().unwrap_or_default().to_owned(),
                    stage_settings(stage.tracing_enabled(), stage.method_settings()),
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
}

/// The managed settings from GetStage's or GetStages' fields. The SDK's output types already
/// default absent booleans and numbers, so absence survives only at the level of the `*/*`
/// entry: none until it is first patched.
fn stage_settings(
    tracing_enabled: bool,
    method_settings: Option<&HashMap<String, aws_sdk_apigateway::types::MethodSetting>>,
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
    }
}

fn patch(ops: &[PatchOp]) -> Vec<PatchOperation> {
    ops.iter()
        .map(|op| {
            PatchOperation::builder()
                .op(Op::Replace)
                .path(&op.path)
                .value(&op.value)
                .build()
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

fn tags(
    tags: Option<&std::collections::HashMap<String, String>>,
) -> std::collections::BTreeMap<String, String> {
    tags.into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

impl ApiGateway for SdkApiGateway {
    async fn find_rest_api(&self, by: &ResourceRef) -> Result<RestApi, AwsError> {
        if let Some(id) = &by.id {
            return self.get_rest_api(id).await;
        }
        let name = by.name.as_deref().unwrap_or_default();
        let found = self
            .rest_apis()
            .await?
            .into_iter()
            .filter(|api| api.name == name)
            .collect();
        unique("REST API", name, found, "GetRestApis")
    }

    async fn list_rest_apis(&self) -> Result<Vec<RestApi>, AwsError> {
        self.rest_apis().await
    }

    async fn stage_names(&self, api_id: &str) -> Result<Vec<String>, AwsError> {
        Ok(self
            .stages(api_id)
            .await?
            .into_iter()
            .map(|(name, _)| name)
            .collect())
    }

    async fn get_rest_api(&self, id: &str) -> Result<RestApi, AwsError> {
        let request = self.client.get_rest_api().rest_api_id(id).send();
        let out = self.meter.call("GetRestApi", false, request).await?;
        Ok(RestApi {
            id: id.to_owned(),
            name: out.name().unwrap_or_default().to_owned(),
            tags: tags(out.tags()),
        })
    }

    async fn get_stage(&self, api_id: &str, stage: &str) -> Result<StageSettings, AwsError> {
        let request = self
            .client
            .get_stage()
            .rest_api_id(api_id)
            .stage_name(stage)
            .send();
        let out = self.meter.call("GetStage", false, request).await?;
        Ok(stage_settings(out.tracing_enabled(), out.method_settings()))
    }

    async fn update_stage(
        &self,
        api_id: &str,
        stage: &str,
        ops: &[PatchOp],
    ) -> Result<(), AwsError> {
        let request = self
            .client
            .update_stage()
            .rest_api_id(api_id)
            .stage_name(stage)
            .set_patch_operations(Some(patch(ops)))
            .send();
        self.meter
            .call("UpdateStage", true, request)
            .await
            .map(|_| ())
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
