//! Detailed (per-route) metrics of an HTTP API stage: its default route settings, and each
//! route the spec throttles, whose own settings stand in for the defaults.

use crate::core::crd::ApiGatewayGuardSpec;
use crate::core::model::{GuardId, Observed};
use crate::core::plan::control::{Declared, StageEvent};
use crate::core::plan::stage::{Setting, groups, known_routes, stage_path};
use crate::core::plan::{Control, Draft, change};

pub(super) const DECLARED: Declared = Declared {
    section: "detailedMetrics",
    condition: "DetailedMetrics",
    asked: |c| c.detailed_metrics.is_some(),
    stage_event: StageEvent::Updated("DetailedMetricsUpdated"),
    summary: "detailed metrics per route (`spec.detailedMetrics`)",
    step,
    cost: None,
};

fn step(_: &GuardId, spec: &ApiGatewayGuardSpec, observed: &Observed, draft: &mut Draft) {
    let Some(enabled) = spec.controls.detailed_metrics else {
        return;
    };
    // The routes' blockers are the stage throttle's to report.
    let routes = known_routes(spec, observed, &mut Vec::new());
    for (route, have) in groups(observed, &routes) {
        if have.metrics.unwrap_or(false) != enabled {
            draft.stage.push(change(
                Control::DetailedMetrics,
                &stage_path(observed.api.kind, route, Setting::Metrics),
                enabled.to_string(),
                have.metrics.map(|b| b.to_string()),
            ));
        }
    }
}
