//! X-Ray tracing on the stage (`/tracingEnabled`): REST APIs only.

use crate::core::crd::ApiGatewayGuardSpec;
use crate::core::model::{GuardId, Observed};
use crate::core::plan::control::{Declared, StageEvent};
use crate::core::plan::{Control, Draft, change};

pub(super) const DECLARED: Declared = Declared {
    section: "tracing",
    condition: "Tracing",
    asked: |c| c.tracing.is_some(),
    stage_event: StageEvent::OnOff("TracingEnabled", "TracingDisabled"),
    summary: "X-Ray tracing",
    step,
    cost: None,
};

fn step(_: &GuardId, spec: &ApiGatewayGuardSpec, observed: &Observed, draft: &mut Draft) {
    let Some(tracing) = &spec.controls.tracing else {
        return;
    };
    // Absent means off: a stage created without tracing has it disabled.
    let current = observed.stage.tracing_enabled;
    if current.unwrap_or(false) != tracing.enabled {
        draft.stage.push(change(
            Control::Tracing,
            "/tracingEnabled",
            tracing.enabled.to_string(),
            current.map(|b| b.to_string()),
        ));
    }
}
