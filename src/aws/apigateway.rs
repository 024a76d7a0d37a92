//! The aws-sdk-apigateway implementation of [`ApiGateway`].

use aws_sdk_apigateway::Client;
use aws_sdk_apigateway::types::{ApiStage, Op, PatchOperation, ThrottleSettings};

use super::meter::Meter;
use super::{ApiGateway, AwsError, MethodSettings, PatchOp, RestApi, StageSettings, UsagePlan};
use crate::crd::ResourceRef;

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
fn unique<T>(
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

impl ApiGateway for SdkApiGateway {
    async fn find_rest_api(&self, by: &ResourceRef) -> Result<RestApi, AwsError> {
        if let Some(id) = &by.id {
            let request = self.client.get_rest_api().rest_api_id(id).send();
            let out = self.meter.call("GetRestApi", false, request).await?;
            return Ok(RestApi {
                id: id.clone(),
                name: out.name().unwrap_or_default().to_owned(),
            });
        }
        let name = by.name.as_deref().unwrap_or_default();
        let mut found = Vec::new();
        let mut position = None;
        loop {
            let request = self
                .client
                .get_rest_apis()
                .limit(PAGE)
                .set_position(position.take())
                .send();
            let page = self.meter.call("GetRestApis", false, request).await?;
            found.extend(
                page.items()
                    .iter()
                    .filter(|api| api.name() == Some(name))
                    .map(|api| RestApi {
                        id: api.id().unwrap_or_default().to_owned(),
                        name: name.to_owned(),
                    }),
            );
            match page.position() {
                Some(next) if !page.items().is_empty() => position = Some(next.to_owned()),
                _ => break,
            }
        }
        unique("REST API", name, found, "GetRestApis")
    }

    async fn get_stage(&self, api_id: &str, stage: &str) -> Result<StageSettings, AwsError> {
        let request = self
            .client
            .get_stage()
            .rest_api_id(api_id)
            .stage_name(stage)
            .send();
        let out = self.meter.call("GetStage", false, request).await?;
        // The SDK's output types already default absent booleans and numbers, so absence
        // survives only at the level of the `*/*` entry: none until it is first patched.
        let all_methods = out
            .method_settings()
            .and_then(|settings| settings.get(ALL_METHODS))
            .map(|m| MethodSettings {
                logging_level: m.logging_level().map(str::to_owned),
                data_trace: Some(m.data_trace_enabled()),
                metrics: Some(m.metrics_enabled()),
                rate_limit: Some(m.throttling_rate_limit()),
                burst_limit: Some(m.throttling_burst_limit()),
            })
            .unwrap_or_default();
        Ok(StageSettings {
            tracing_enabled: Some(out.tracing_enabled()),
            all_methods,
        })
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
        let mut found = Vec::new();
        let mut position = None;
        loop {
            let request = self
                .client
                .get_usage_plans()
                .limit(PAGE)
                .set_position(position.take())
                .send();
            let page = self.meter.call("GetUsagePlans", false, request).await?;
            found.extend(
                page.items()
                    .iter()
                    .filter(|plan| plan.name() == Some(name))
                    .map(|plan| {
                        usage_plan(
                            plan.id().unwrap_or_default(),
                            plan.throttle(),
                            plan.api_stages(),
                        )
                    }),
            );
            match page.position() {
                Some(next) if !page.items().is_empty() => position = Some(next.to_owned()),
                _ => break,
            }
        }
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
            .call("UpdateUsagePlan", true, request)
            .await
            .map(|_| ())
    }

    async fn cloudwatch_role_arn(&self) -> Result<Option<String>, AwsError> {
        let out = self
            .meter
            .call("GetAccount", false, self.client.get_account().send())
            .await?;
        Ok(out
            .cloudwatch_role_arn()
            .filter(|arn| !arn.is_empty())
            .map(str::to_owned))
    }
}
