//! Finding the stages a policy's selector matches, from the listings the guards already share:
//! one GetRestApis page per 500 REST APIs (tags included), then one GetStages per matched API.

use crate::aws::ApiGateway;
use crate::crd::StageSelector;
use crate::model::AwsError;
use crate::policy::{Matched, selects_api, selects_stage};

/// Every stage the selector matches, by API name, API id and stage.
pub async fn discover(
    apigateway: &impl ApiGateway,
    selector: &StageSelector,
) -> Result<Vec<Matched>, AwsError> {
    let mut matched = Vec::new();
    let apis = apigateway.list_rest_apis().await?;
    for api in apis.into_iter().filter(|api| selects_api(selector, api)) {
        let stages = match apigateway.stage_names(&api.id).await {
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
    matched.sort_by(|a, b| {
        (&a.api.name, &a.api.id, &a.stage).cmp(&(&b.api.name, &b.api.id, &b.stage))
    });
    Ok(matched)
}
