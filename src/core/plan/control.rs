//! The runbook's prevention controls, each declared in one place, its own file beside this
//! one: the spec section that asks for it, the status condition it reports under, the event an
//! UpdateStage that changes it raises, what it keeps (the README's table), its planner step and
//! what it costs a month. A new control is a variant, its file and one line of `declared`;
//! `match` makes both exhaustive.

use crate::core::crd::{ApiGatewayGuardSpec, Controls};
use crate::core::model::{GuardId, GuardedApi, Observed};
use crate::core::plan::Draft;
use crate::core::plan::cost::MonthlyCost;
use crate::core::plan::{
    access_logging, alarms, dashboard, detailed_metrics, execution_logging, objective,
    stage_throttle, throttle, tracing,
};

/// The prevention controls of the runbook; each gets its own status condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Control {
    Tracing,
    ExecutionLogging,
    Throttle,
    StageThrottle,
    Alarms,
    Dashboard,
    AccessLogging,
    DetailedMetrics,
    Objective,
}

/// What a control is and does.
pub struct Declared {
    /// The spec's section (and a policy template's) that asks for it, as the CRD names it.
    pub section: &'static str,
    /// The status condition it reports under.
    pub condition: &'static str,
    /// Whether the controls a spec gives ask for it.
    pub asked: fn(&Controls) -> bool,
    /// The event of an UpdateStage that changed it.
    pub stage_event: StageEvent,
    /// What it keeps, as the first column of the README's table of controls.
    pub summary: &'static str,
    /// Its planner step: what it adds to the plan being drawn, from the spec and what AWS has.
    pub step: fn(&GuardId, &ApiGatewayGuardSpec, &Observed, &mut Draft),
    /// What what it keeps costs a month at list prices; `None`: nothing (or only by usage).
    pub cost: Option<fn(&GuardId, &ApiGatewayGuardSpec, &GuardedApi) -> MonthlyCost>,
}

/// The event reason of an UpdateStage that changed a control.
pub enum StageEvent {
    /// One reason whatever the change.
    Updated(&'static str),
    /// One reason for the setting switched on, another for off.
    OnOff(&'static str, &'static str),
    /// Not a setting of the stage: an UpdateStage never names it.
    NotAStageSetting,
}

impl Control {
    pub const ALL: [Control; 9] = [
        Control::Tracing,
        Control::ExecutionLogging,
        Control::Throttle,
        Control::StageThrottle,
        Control::Alarms,
        Control::Dashboard,
        Control::AccessLogging,
        Control::DetailedMetrics,
        Control::Objective,
    ];

    /// Its declaration, in its own file.
    pub fn declared(self) -> &'static Declared {
        match self {
            Control::Tracing => &tracing::DECLARED,
            Control::ExecutionLogging => &execution_logging::DECLARED,
            Control::Throttle => &throttle::DECLARED,
            Control::StageThrottle => &stage_throttle::DECLARED,
            Control::Alarms => &alarms::DECLARED,
            Control::Dashboard => &dashboard::DECLARED,
            Control::AccessLogging => &access_logging::DECLARED,
            Control::DetailedMetrics => &detailed_metrics::DECLARED,
            Control::Objective => &objective::DECLARED,
        }
    }

    /// The status condition type.
    pub fn condition_type(self) -> &'static str {
        self.declared().condition
    }

    /// Whether the spec's controls ask for this control.
    pub fn is_managed(self, controls: &Controls) -> bool {
        (self.declared().asked)(controls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each control is asked for by its own section, under its own condition, and the spec's
    /// section and the flag that reads it agree: a spec with only that section asks for it
    /// alone.
    #[test]
    fn each_control_is_asked_for_by_its_section_alone() {
        let mut conditions: Vec<&str> = Control::ALL.iter().map(|c| c.condition_type()).collect();
        conditions.dedup();
        assert_eq!(conditions.len(), Control::ALL.len());
        for control in Control::ALL {
            let section = control.declared().section;
            let value = crate::core::fixtures::section_value(section);
            let controls: Controls = serde_yaml::from_str(&format!("{section}: {value}"))
                .unwrap_or_else(|e| panic!("{section}: {e}"));
            let asked: Vec<Control> = Control::ALL
                .into_iter()
                .filter(|c| c.is_managed(&controls))
                .collect();
            assert_eq!(asked, [control], "spec.{section}");
        }
    }
}
