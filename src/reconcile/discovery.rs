//! Finding the stages a policy's selector matches, from the listings the guards already share:
//! for each kind of API the selector takes, the region's APIs of that kind with their tags
//! (GetRestApis, 500 a page; GetApis), then one GetStages per matched API.

use crate::aws::ApiGateway;
use crate::core::crd::StageSelector;
use crate::core::model::AwsError;
use crate::core::policy::{Matched, selects_api, selects_stage};

/// Every stage the selector matches, by API name, kind, API id and stage.
pub async fn discover(
    apigateway: &impl ApiGateway,
    selector: &StageSelector,
) -> Result<Vec<Matched>, AwsError> {
    let mut matched = Vec::new();
    for &kind in &selector.api_kinds {
        let apis = apigateway.list_apis(kind).await?;
        for api in apis.into_iter().filter(|api| selects_api(selector, api)) {
            let stages = match apigateway.stage_names(kind, &api.id).await {
                Ok(stages) => stages,
                // Deleted since the listing: it has no stages to guard.
                Err(err) if err.code == "NotFoundException" => continue,
                Err(err) => return Err(err),
            };
            for stage in stages.into_iter().filter(|s| selects_stage(selector, s)) {
                matched.push(Matched {
                    api: api.clone(),
                    stage,
                });
            }
        }
    }
    matched.sort_by(|a, b| {
        (&a.api.name, a.api.kind, &a.api.id, &a.stage).cmp(&(
            &b.api.name,
            b.api.kind,
            &b.api.id,
            &b.stage,
        ))
    });
    Ok(matched)
}
