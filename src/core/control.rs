//! The runbook's prevention controls, each declared in one place: the spec section that asks
//! for it, the status condition it reports under, and the event an UpdateStage that changes it
//! raises. A new control is a variant and its declaration; `match` makes both exhaustive.

use crate::core::crd::Controls;

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

/// What a control is, besides the planner's step that makes it true.
pub struct Declared {
    /// The spec's section (and a policy template's) that asks for it, as the CRD names it.
    pub section: &'static str,
    /// The status condition it reports under.
    pub condition: &'static str,
    /// Whether the controls a spec gives ask for it.
    pub asked: fn(&Controls) -> bool,
    /// The event of an UpdateStage that changed it.
    pub stage_event: StageEvent,
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

    pub fn declared(self) -> Declared {
        use StageEvent::{NotAStageSetting, OnOff, Updated};
        let (section, condition, asked, stage_event): (_, _, fn(&Controls) -> bool, _) = match self
        {
            Control::Tracing => (
                "tracing",
                "Tracing",
                |c| c.tracing.is_some(),
                OnOff("TracingEnabled", "TracingDisabled"),
            ),
            Control::ExecutionLogging => (
                "executionLogging",
                "ExecutionLogging",
                |c| c.execution_logging.is_some(),
                Updated("ExecutionLoggingUpdated"),
            ),
            Control::Throttle => (
                "throttle",
                "Throttle",
                |c| c.throttle.is_some(),
                NotAStageSetting,
            ),
            Control::StageThrottle => (
                "stageThrottle",
                "StageThrottle",
                |c| c.stage_throttle.is_some(),
                Updated("StageThrottleUpdated"),
            ),
            Control::Alarms => ("alarms", "Alarms", |c| c.alarms.is_some(), NotAStageSetting),
            Control::Dashboard => (
                "dashboard",
                "Dashboard",
                |c| c.dashboard.is_some(),
                NotAStageSetting,
            ),
            Control::AccessLogging => (
                "accessLogging",
                "AccessLogging",
                |c| c.access_logging.is_some(),
                Updated("AccessLoggingUpdated"),
            ),
            Control::DetailedMetrics => (
                "detailedMetrics",
                "DetailedMetrics",
                |c| c.detailed_metrics.is_some(),
                Updated("DetailedMetricsUpdated"),
            ),
            Control::Objective => ("slo", "Objective", |c| c.slo.is_some(), NotAStageSetting),
        };
        Declared {
            section,
            condition,
            asked,
            stage_event,
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
            let value = match section {
                "detailedMetrics" => "true",
                "throttle" => "{usagePlan: {id: u1}, rateLimit: 1, burstLimit: 1}",
                "stageThrottle" => "{rateLimit: 1, burstLimit: 1}",
                "slo" => "{availability: 99.9}",
                "tracing" => "{enabled: true}",
                _ => "{}",
            };
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
