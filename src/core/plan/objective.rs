//! Burn-rate alarms on an objective's error budget (`spec.slo`), one composite alarm per tier
//! that pages; what they are is `core::objective`'s, kept as the runbook's alarms are.

use crate::core::crd::ApiGatewayGuardSpec;
use crate::core::model::{GuardId, Observed};
use crate::core::plan::control::{Declared, StageEvent};
use crate::core::plan::{Control, Draft, alarms};

pub(super) const DECLARED: Declared = Declared {
    section: "slo",
    condition: "Objective",
    asked: |c| c.slo.is_some(),
    stage_event: StageEvent::NotAStageSetting,
    summary: "burn-rate alarms on an availability (and latency) objective's error budget, one \
              composite alarm per tier that pages (optional, `spec.slo`: [Alarm on an \
              objective](#alarm-on-an-objective))",
    step,
    cost: Some(|guard, spec, api| alarms::cost(Control::Objective, guard, spec, api)),
};

fn step(guard: &GuardId, spec: &ApiGatewayGuardSpec, observed: &Observed, draft: &mut Draft) {
    alarms::keep(Control::Objective, guard, spec, observed, draft);
}
