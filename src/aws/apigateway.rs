//! The aws-sdk-apigateway implementation of [`ApiGateway`].

use aws_sdk_apigateway::Client;
use aws_sdk_apigateway::types::{Op, PatchOperation};

use super::limits::SharedRateLimits;
use super::{
    ApiGateway, AwsError, CallLog, MethodSettings, PatchOp, RestApi, StageSettings, UsagePlan,
};
use crate::crd::ResourceRef;

/// The method-settings key that covers every resource and method of a stage.
const ALL_METHODS: &str = "*/*";
/// GetRestApis and GetUsagePlans page size (AWS's maximum).
const PAGE: i32 = 500;

/// API Gateway through the AWS SDK, recording each call.
#[derive(Clone, Debug)]
pub struct SdkApiGateway {
    client: Client,
    calls: CallLog,
    limits: SharedRateLimits,
    region: String,
}

impl SdkApiGateway {
    /// A client for `region` whose calls wait for `limits` and are recorded in `calls`.
    pub fn new(client: Client, calls: CallLog, limits: SharedRateLimits, region: String) -> Self {
        Self {
            client,
            calls,
            limits,
            region,
        }
    }

    fn record<T>(&self, operation: &'static str, write: bool, result: &Result<T, AwsError>) {
        self.calls
            .record("apigateway", operation, write, result.is_ok());
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

/// Exactly one match by name, or a NotFoundException/ConflictException-style error naming it.
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

impl ApiGateway for SdkApiGateway {
    async fn find_rest_api(&self, by: &ResourceRef) -> Result<RestApi, AwsError> {
        if let Some(id) = &by.id {
            self.limits.acquire(&self.region, "GetRestApi").await;
            let result = self
                .client
                .get_rest_api()
                .rest_api_id(id)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("GetRestApi", e));
            self.record("GetRestApi", false, &result);
            let out = result?;
            return Ok(RestApi {
                id: id.clone(),
                name: out.name().unwrap_or_default().to_owned(),
            });
        }
        let name = by.name.as_deref().unwrap_or_default();
        let mut found = Vec::new();
        let mut position = None;
        loop {
            self.limits.acquire(&self.region, "GetRestApis").await;
            let result = self
                .client
                .get_rest_apis()
                .limit(PAGE)
                .set_position(position.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("GetRestApis", e));
            self.record("GetRestApis", false, &result);
            let page = result?;
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
        self.limits.acquire(&self.region, "GetStage").await;
        let result = self
            .client
            .get_stage()
            .rest_api_id(api_id)
            .stage_name(stage)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetStage", e));
        self.record("GetStage", false, &result);
        let out = result?;
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
        self.limits.acquire(&self.region, "UpdateStage").await;
        let result = self
            .client
            .update_stage()
            .rest_api_id(api_id)
            .stage_name(stage)
            .set_patch_operations(Some(patch(ops)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("UpdateStage", e));
        self.record("UpdateStage", true, &result);
        result
    }

    async fn find_usage_plan(&self, by: &ResourceRef) -> Result<UsagePlan, AwsError> {
        let to_plan =
            |id: &str,
             throttle: Option<&aws_sdk_apigateway::types::ThrottleSettings>,
             stages: &[aws_sdk_apigateway::types::ApiStage]| UsagePlan {
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
            };
        if let Some(id) = &by.id {
            self.limits.acquire(&self.region, "GetUsagePlan").await;
            let result = self
                .client
                .get_usage_plan()
                .usage_plan_id(id)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("GetUsagePlan", e));
            self.record("GetUsagePlan", false, &result);
            let out = result?;
            return Ok(to_plan(id, out.throttle(), out.api_stages()));
        }
        let name = by.name.as_deref().unwrap_or_default();
        let mut found = Vec::new();
        let mut position = None;
        loop {
            self.limits.acquire(&self.region, "GetUsagePlans").await;
            let result = self
                .client
                .get_usage_plans()
                .limit(PAGE)
                .set_position(position.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("GetUsagePlans", e));
            self.record("GetUsagePlans", false, &result);
            let page = result?;
            found.extend(
                page.items()
                    .iter()
                    .filter(|plan| plan.name() == Some(name))
                    .map(|plan| {
                        to_plan(
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
        self.limits.acquire(&self.region, "UpdateUsagePlan").await;
        let result = self
            .client
            .update_usage_plan()
            .usage_plan_id(id)
            .set_patch_operations(Some(patch(ops)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("UpdateUsagePlan", e));
        self.record("UpdateUsagePlan", true, &result);
        result
    }

    async fn cloudwatch_role_arn(&self) -> Result<Option<String>, AwsError> {
        self.limits.acquire(&self.region, "GetAccount").await;
        let result = self
            .client
            .get_account()
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetAccount", e));
        self.record("GetAccount", false, &result);
        Ok(result?
            .cloudwatch_role_arn()
            .filter(|arn| !arn.is_empty())
            .map(str::to_owned))
    }
}
