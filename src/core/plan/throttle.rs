//! The usage-plan throttle (`/throttle/rateLimit`, `/throttle/burstLimit`) of the plan serving
//! a REST API's stage, which limits only the requests that carry an API key.

use crate::core::crd::ApiGatewayGuardSpec;
use crate::core::model::{GuardId, Observed};
use crate::core::plan::control::{Declared, StageEvent};
use crate::core::plan::{Action, Blocker, Control, Draft, change, describe_ref, number};

pub(super) const DECLARED: Declared = Declared {
    section: "throttle",
    condition: "Throttle",
    asked: |c| c.throttle.is_some(),
    stage_event: StageEvent::NotAStageSetting,
    summary: "usage-plan throttle (limits API-key traffic only)",
    step,
    cost: None,
};

/// Queued last: AWS allows one UpdateUsagePlan per 20 s per account, and the other controls
/// should not wait behind that queue.
fn step(_: &GuardId, spec: &ApiGatewayGuardSpec, observed: &Observed, draft: &mut Draft) {
    let action = usage_plan_action(spec, observed, &mut draft.blockers);
    draft.last.extend(action);
}

fn usage_plan_action(
    spec: &ApiGatewayGuardSpec,
    observed: &Observed,
    blockers: &mut Vec<Blocker>,
) -> Option<Action> {
    let throttle = spec.controls.throttle.as_ref()?;
    let usage_plan = match observed.usage_plan.as_ref()? {
        Ok(plan) => plan,
        Err(err) => {
            blockers.push(Blocker {
                control: Control::Throttle,
                reason: err.code.clone(),
                message: format!("usage plan {}: {err}", describe_ref(&throttle.usage_plan)),
                retryable: err.retryable,
            });
            return None;
        }
    };
    let serves = usage_plan
        .api_stages
        .iter()
        .any(|(api, stage)| *api == observed.api.id && *stage == spec.stage);
    if !serves {
        blockers.push(Blocker {
            control: Control::Throttle,
            reason: "UsagePlanNotServingStage".to_owned(),
            message: format!(
                "usage plan {} ({}) does not serve stage {} of REST API {} ({}); add the stage \
                 to the plan or name the plan that serves it",
                describe_ref(&throttle.usage_plan),
                usage_plan.id,
                spec.stage,
                observed.api.name,
                observed.api.id
            ),
            retryable: false,
        });
        return None;
    }
    let mut changes = Vec::new();
    if usage_plan.rate_limit != Some(throttle.rate_limit) {
        changes.push(change(
            Control::Throttle,
            "/throttle/rateLimit",
            number(throttle.rate_limit),
            usage_plan.rate_limit.map(number),
        ));
    }
    if usage_plan.burst_limit != Some(throttle.burst_limit) {
        changes.push(change(
            Control::Throttle,
            "/throttle/burstLimit",
            throttle.burst_limit.to_string(),
            usage_plan.burst_limit.map(|b| b.to_string()),
        ));
    }
    (!changes.is_empty()).then(|| Action::UpdateUsagePlan {
        usage_plan_id: usage_plan.id.clone(),
        changes,
    })
}
