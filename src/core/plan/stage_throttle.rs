//! The stage throttle, which limits all traffic (`/*/*/throttling/*`, an HTTP API's default
//! route settings), and an HTTP API's per-route throttles.

use crate::core::crd::ApiGatewayGuardSpec;
use crate::core::model::{GuardId, Observed};
use crate::core::plan::control::{Declared, StageEvent};
use crate::core::plan::stage::{Setting, groups, known_routes, stage_path};
use crate::core::plan::{Control, Draft, change, number};

pub(super) const DECLARED: Declared = Declared {
    section: "stageThrottle",
    condition: "StageThrottle",
    asked: |c| c.stage_throttle.is_some(),
    stage_event: StageEvent::Updated("StageThrottleUpdated"),
    summary: "stage throttle (limits all traffic), and per route",
    step,
    cost: None,
};

fn step(_: &GuardId, spec: &ApiGatewayGuardSpec, observed: &Observed, draft: &mut Draft) {
    let Some(throttle) = &spec.controls.stage_throttle else {
        return;
    };
    let kind = observed.api.kind;
    let routes = known_routes(spec, observed, &mut draft.blockers);
    for (route, have) in groups(observed, &routes) {
        let limits = match route {
            None => throttle.limits(),
            Some(key) => routes[key].clone(),
        };
        if have.rate_limit != Some(limits.rate_limit) {
            draft.stage.push(change(
                Control::StageThrottle,
                &stage_path(kind, route, Setting::RateLimit),
                number(limits.rate_limit),
                have.rate_limit.map(number),
            ));
        }
        if have.burst_limit != Some(limits.burst_limit) {
            draft.stage.push(change(
                Control::StageThrottle,
                &stage_path(kind, route, Setting::BurstLimit),
                limits.burst_limit.to_string(),
                have.burst_limit.map(|b| b.to_string()),
            ));
        }
    }
}
