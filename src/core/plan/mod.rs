//! Pure planning: a guard's spec and what AWS has, in; the ordered AWS writes that close the
//! gap, out. No I/O here, so every decision is testable as `plan(spec, observed) == actions`.
//! Each control is one file here: its declaration ([`control::Declared`]) and its step.

use std::fmt;

use crate::core::crd::ApiGatewayGuardSpec;
use crate::core::model::{
    AlarmConfig, AlarmMetric, AlarmRule, ApiKind, GuardId, Observed, PatchOp, Query, Tag,
};

pub mod control;
pub mod cost;
mod stage;

mod access_logging;
mod alarms;
mod dashboard;
mod detailed_metrics;
mod execution_logging;
mod objective;
mod stage_throttle;
mod throttle;
mod tracing;

pub use access_logging::access_log_group;
pub use alarms::{alarm_slots, desired_alarm};
pub use control::Control;

/// One stage patch with the control it serves and the value it replaces, for diffs and status.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub control: Control,
    pub op: PatchOp,
    /// What AWS has now; `None` when unset.
    pub from: Option<String>,
}

/// One AWS write.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// UpdateStage with every stage change in one call.
    UpdateStage {
        kind: ApiKind,
        api_id: String,
        stage: String,
        changes: Vec<Change>,
        /// Unchanged fields the call must still name (an HTTP API's route settings are
        /// written whole); not changes, so not shown or reported as such.
        carried: Vec<PatchOp>,
    },
    /// CreateLogGroup for the stage's access logs, tagged as this guard's, with its retention.
    CreateLogGroup {
        name: String,
        retention_days: i32,
        tags: Vec<Tag>,
    },
    /// PutRetentionPolicy on the guard's own access log group.
    PutRetention {
        name: String,
        retention_days: i32,
        from: Option<i32>,
    },
    /// Turns an HTTP API stage's access logs off (a call of its own in AWS; a REST stage's
    /// are removed in its UpdateStage).
    DisableAccessLogs { api_id: String, stage: String },
    /// UpdateUsagePlan with the throttle changes in one call.
    UpdateUsagePlan {
        usage_plan_id: String,
        changes: Vec<Change>,
    },
    /// PutMetricAlarm or PutCompositeAlarm; `tags` are set when it creates the alarm, so an
    /// alarm never exists without its owner.
    PutAlarm {
        /// Alarms (the runbook's) or Objective (burn-rate tiers).
        control: Control,
        alarm: Box<AlarmConfig>,
        tags: Vec<Tag>,
        /// The managed fields that differ; empty when the alarm is new.
        diff: Vec<String>,
    },
    /// TagResource: an owned alarm is missing some of the guard's tags.
    TagAlarm {
        control: Control,
        name: String,
        arn: String,
        tags: Vec<Tag>,
    },
    /// DeleteAlarms of owned alarms the spec no longer wants; a composite alarm alone, as
    /// AWS deletes at most one a call, and before the alarms it names.
    DeleteAlarms {
        control: Control,
        names: Vec<String>,
    },
    /// PutDashboard with the whole body.
    PutDashboard {
        name: String,
        /// JSON.
        body: String,
        /// The titles of the widgets that differ; empty when the dashboard is new.
        diff: Vec<String>,
    },
    /// DeleteDashboards of the guard's own dashboard, which the spec no longer wants.
    DeleteDashboards { names: Vec<String> },
    /// DeleteAlarms of the guard's alarms under their first names, once this reconcile wrote
    /// their successors: applied only when no earlier alarm write failed, so the stage is
    /// never without an alarm.
    RetireAlarms { names: Vec<String> },
    /// DeleteDashboards of the guard's dashboard under its first name, once its successor
    /// was written.
    RetireDashboard { name: String },
}

impl Action {
    /// The controls whose state this action decides.
    pub fn controls(&self) -> Vec<Control> {
        match self {
            Action::UpdateStage { changes, .. } | Action::UpdateUsagePlan { changes, .. } => {
                let mut controls: Vec<Control> = changes.iter().map(|c| c.control).collect();
                controls.dedup();
                controls
            }
            Action::PutAlarm { control, .. }
            | Action::TagAlarm { control, .. }
            | Action::DeleteAlarms { control, .. } => vec![*control],
            Action::RetireAlarms { .. } => vec![Control::Alarms],
            Action::PutDashboard { .. }
            | Action::DeleteDashboards { .. }
            | Action::RetireDashboard { .. } => vec![Control::Dashboard],
            Action::CreateLogGroup { .. }
            | Action::PutRetention { .. }
            | Action::DisableAccessLogs { .. } => vec![Control::AccessLogging],
        }
    }
}

impl Action {
    /// The action as [`Display`](fmt::Display) shows it, keeping only `control`'s changes.
    pub fn describe_for(&self, control: Control) -> String {
        match self {
            Action::UpdateStage {
                kind,
                api_id,
                stage,
                changes,
                carried,
            } => Action::UpdateStage {
                kind: *kind,
                carried: carried.clone(),
                api_id: api_id.clone(),
                stage: stage.clone(),
                changes: changes
                    .iter()
                    .filter(|c| c.control == control)
                    .cloned()
                    .collect(),
            }
            .to_string(),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let changes = |changes: &[Change]| {
            changes
                .iter()
                .map(|c| {
                    let from = c.from.as_deref().unwrap_or("(unset)");
                    match c.op.remove {
                        true => format!("{} {from} -> (removed)", c.op.path),
                        false => format!("{} {from} -> {}", c.op.path, c.op.value),
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Action::UpdateStage {
                api_id,
                stage,
                changes: list,
                ..
            } => write!(f, "update-stage {api_id}/{stage}: {}", changes(list)),
            Action::CreateLogGroup {
                name,
                retention_days,
                ..
            } => write!(
                f,
                "create-log-group {name} (retention {retention_days} days)"
            ),
            Action::PutRetention {
                name,
                retention_days,
                from,
            } => write!(
                f,
                "put-retention-policy {name}: {} -> {retention_days} days",
                from.map_or("never expire".to_owned(), |d| format!("{d} days"))
            ),
            Action::DisableAccessLogs { api_id, stage, .. } => {
                write!(f, "delete-access-log-settings {api_id}/{stage}")
            }
            Action::UpdateUsagePlan {
                usage_plan_id,
                changes: list,
            } => write!(f, "update-usage-plan {usage_plan_id}: {}", changes(list)),
            Action::PutAlarm { alarm, diff, .. } => {
                let call = match alarm.is_composite() {
                    true => "put-composite-alarm",
                    false => "put-metric-alarm",
                };
                match diff.is_empty() {
                    true => write!(f, "{call} {} (create: {})", alarm.name, rule(alarm)),
                    false => write!(f, "{call} {} (update: {})", alarm.name, diff.join(", ")),
                }
            }
            Action::TagAlarm { name, tags, .. } => {
                let keys: Vec<&str> = tags.iter().map(|(k, _)| k.as_str()).collect();
                write!(f, "tag-resource {name}: {}", keys.join(", "))
            }
            Action::DeleteAlarms { names, .. } => write!(f, "delete-alarms {}", names.join(" ")),
            Action::PutDashboard { name, diff, .. } if diff.is_empty() => {
                write!(f, "put-dashboard {name} (create)")
            }
            Action::PutDashboard { name, diff, .. } => {
                write!(f, "put-dashboard {name} (update: {})", diff.join(", "))
            }
            Action::DeleteDashboards { names } => {
                write!(f, "delete-dashboards {}", names.join(" "))
            }
            Action::RetireAlarms { names } => {
                write!(f, "delete-alarms {} (renamed)", names.join(" "))
            }
            Action::RetireDashboard { name } => write!(f, "delete-dashboards {name} (renamed)"),
        }
    }
}

/// When an alarm fires, in a line: `5XXError Sum > 10 over 300s x1`, `IF(...) > 0.0144 over
/// 3600s x1`, or a composite's rule.
fn rule(alarm: &AlarmConfig) -> String {
    let threshold = match &alarm.rule {
        AlarmRule::Composite { rule, .. } => return rule.clone(),
        AlarmRule::Threshold(threshold) => threshold,
    };
    let (what, period) = match &threshold.metric {
        AlarmMetric::Stat(stat) => (
            format!("{} {}", stat.metric_name, stat.statistic),
            stat.period,
        ),
        AlarmMetric::Math(queries) => (
            queries
                .iter()
                .filter(|q| q.return_data)
                .map(|q| match &q.query {
                    Query::Expression(expression) => expression.clone(),
                    Query::Stat(stat) => format!("{} {}", stat.metric_name, stat.statistic),
                })
                .next()
                .unwrap_or_default(),
            threshold.metric.period(),
        ),
    };
    let of = threshold
        .datapoints_to_alarm
        .map(|m| format!(" ({m} of {})", threshold.evaluation_periods))
        .unwrap_or_else(|| format!(" x{}", threshold.evaluation_periods));
    format!("{what} > {} over {period}s{of}", threshold.threshold)
}

/// Why a control cannot reach its desired state by any write this plan could make.
#[derive(Clone, Debug, PartialEq)]
pub struct Blocker {
    pub control: Control,
    /// One CamelCase word, used as the condition reason.
    pub reason: String,
    pub message: String,
    /// True when waiting (or a retry) may clear it without a spec change.
    pub retryable: bool,
}

/// The ordered writes for one guard, and what blocks the controls they cannot fix.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub blockers: Vec<Blocker>,
}

impl Plan {
    /// Nothing to write and nothing in the way.
    pub fn is_in_sync(&self) -> bool {
        self.actions.is_empty() && self.blockers.is_empty()
    }
}

/// A plan being drawn: each control's step adds to it, in [`ORDER`].
#[derive(Default)]
pub struct Draft {
    /// Writes the stage's settings need first (the access log group they name).
    pub ahead: Vec<Action>,
    /// Changes of the stage's settings, which one UpdateStage makes together.
    pub stage: Vec<Change>,
    /// Writes of the controls' own resources, after the stage.
    pub after: Vec<Action>,
    /// Deletes of what the spec no longer wants, after every write that replaces it: a stage
    /// is never left without an alarm.
    pub retire: Vec<Action>,
    /// Writes on a slow queue, last so that nothing else waits behind them.
    pub last: Vec<Action>,
    pub blockers: Vec<Blocker>,
}

/// The order of the steps: the stage's settings in the order of their UpdateStage, the alarms
/// before the dashboard that shows them, the usage plan's throttle last (AWS allows one
/// UpdateUsagePlan per 20 s per account).
pub const ORDER: [Control; 9] = [
    Control::Tracing,
    Control::ExecutionLogging,
    Control::DetailedMetrics,
    Control::StageThrottle,
    Control::AccessLogging,
    Control::Alarms,
    Control::Objective,
    Control::Dashboard,
    Control::Throttle,
];

/// Plans the writes that bring AWS to the spec: each control's step, in [`ORDER`]. An in-sync
/// guard plans nothing.
pub fn plan(guard: &GuardId, spec: &ApiGatewayGuardSpec, observed: &Observed) -> Plan {
    let mut draft = Draft::default();
    for control in ORDER {
        (control.declared().step)(guard, spec, observed, &mut draft);
    }
    let mut actions = draft.ahead;
    if !draft.stage.is_empty() {
        let kind = observed.api.kind;
        actions.push(Action::UpdateStage {
            kind,
            api_id: observed.api.id.clone(),
            stage: spec.stage.clone(),
            carried: stage::carried(kind, observed, &draft.stage),
            changes: draft.stage,
        });
    }
    actions.extend(draft.after);
    actions.extend(draft.retire);
    actions.extend(draft.last);
    Plan {
        actions,
        blockers: draft.blockers,
    }
}

/// The value AWS gives a number patch: integral values without a fraction, since API
/// Gateway reads "1000" and "1000.0" alike but some parsers (moto's) only take the first.
pub fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        value.to_string()
    }
}

fn change(control: Control, path: &str, value: String, from: Option<String>) -> Change {
    Change {
        control,
        op: PatchOp {
            path: path.to_owned(),
            value,
            remove: false,
        },
        from,
    }
}

/// `name "x"` or `id "y"`, as the guard named it.
pub fn describe_ref(by: &crate::core::crd::ResourceRef) -> String {
    match (&by.name, &by.id) {
        (Some(name), _) => format!("named {name:?}"),
        (None, Some(id)) => format!("with id {id:?}"),
        (None, None) => "(neither name nor id given)".to_owned(),
    }
}

#[cfg(test)]
mod tests;
