//! The Kubernetes events a reconcile tells humans about: every change made in AWS, drift put
//! back, new problems, and an owned alarm entering ALARM.

use kube::runtime::events::{Event, EventType};

use crate::crd::{ApiGatewayGuardStatus, Condition};
use crate::plan::{Action, Control};
use crate::reconcile::Report;

/// Events for one reconcile. `previous` is the status before it, `current` the one after; a
/// problem is reported when it first appears, not on every resync.
pub fn for_reconcile(
    generation: Option<i64>,
    report: &Report,
    previous: Option<&ApiGatewayGuardStatus>,
    current: &ApiGatewayGuardStatus,
) -> Vec<Event> {
    let mut events = Vec::new();
    // The spec did not change since the last successful look, so a write now undoes a change
    // somebody made in AWS.
    let drift = previous
        .is_some_and(|p| p.observed_generation.is_some() && p.observed_generation == generation);
    for outcome in &report.outcomes {
        match &outcome.result {
            Ok(()) => {
                for control in outcome.action.controls() {
                    let note = outcome.action.describe_for(control);
                    let was_in_sync = previous
                        .and_then(|p| condition(p, control.condition_type()))
                        .is_some_and(|c| c.status == "True");
                    events.push(match drift && was_in_sync {
                        true => warning(
                            "DriftCorrected",
                            format!(
                                "{} was changed outside apigw-guard; put back: {note}",
                                control.condition_type()
                            ),
                        ),
                        false => normal(change_reason(&outcome.action, control), note),
                    });
                }
            }
            Err(err) => events.push(warning(
                &format!("{}Failed", err.operation),
                err.to_string(),
            )),
        }
    }
    let observed = report.observed.is_ok();
    for condition in current
        .conditions
        .iter()
        .filter(|c| is_new_problem(c, observed, previous))
    {
        events.push(warning(
            &condition.reason,
            format!("{}: {}", condition.type_, condition.message),
        ));
    }
    for alarm in current.alarms.iter().filter(|a| a.state == "ALARM") {
        let was_firing = previous.is_some_and(|p| {
            p.alarms
                .iter()
                .any(|old| old.name == alarm.name && old.state == "ALARM")
        });
        if !was_firing {
            events.push(warning(
                "AlarmFiring",
                format!(
                    "alarm {} ({}) is in ALARM: follow the API Gateway 5XX runbook's diagnosis",
                    alarm.name, alarm.metric
                ),
            ));
        }
    }
    merge_by_reason(events)
}

/// One event per type and reason, notes joined: the recorder folds events that share a reason
/// into a series and would keep only the first note.
fn merge_by_reason(events: Vec<Event>) -> Vec<Event> {
    let mut merged: Vec<Event> = Vec::with_capacity(events.len());
    for event in events {
        match merged
            .iter_mut()
            .find(|e| e.type_ == event.type_ && e.reason == event.reason)
        {
            Some(existing) => {
                let note = format!(
                    "{}; {}",
                    existing.note.take().unwrap_or_default(),
                    event.note.unwrap_or_default()
                );
                existing.note = Some(truncate(note, 1000));
            }
            None => merged.push(event),
        }
    }
    merged
}

/// The event for deleting a guard's owned alarms on cleanup.
pub fn alarms_deleted(names: &[String]) -> Event {
    normal(
        "AlarmDeleted",
        format!("deleted owned alarms: {}", names.join(", ")),
    )
}

/// The event for a delete that leaves AWS as it is.
pub fn retained(why: &str) -> Event {
    normal(
        "Retained",
        format!("{why}: the guard's alarms are left in AWS"),
    )
}

fn condition<'a>(status: &'a ApiGatewayGuardStatus, type_: &str) -> Option<&'a Condition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}

/// A failed control whose reason differs from the last status; when AWS could not be read
/// there are no control conditions, and Ready carries the problem.
fn is_new_problem(
    condition: &Condition,
    observed: bool,
    previous: Option<&ApiGatewayGuardStatus>,
) -> bool {
    let kstatus = matches!(
        condition.type_.as_str(),
        "Ready" | "Reconciling" | "Stalled"
    );
    let problem = match (kstatus, observed) {
        (true, true) => false,
        (true, false) => condition.type_ == "Ready",
        (false, _) => condition.status == "False" && condition.reason != "Pending",
    };
    problem
        && previous
            .and_then(|p| self::condition(p, &condition.type_))
            .is_none_or(|old| old.status != condition.status || old.reason != condition.reason)
}

fn change_reason(action: &Action, control: Control) -> &'static str {
    match (action, control) {
        (Action::UpdateStage { changes, .. }, Control::Tracing) => {
            match changes
                .iter()
                .any(|c| c.control == Control::Tracing && c.op.value == "true")
            {
                true => "TracingEnabled",
                false => "TracingDisabled",
            }
        }
        (Action::UpdateStage { .. }, Control::ExecutionLogging) => "ExecutionLoggingUpdated",
        (Action::UpdateStage { .. }, _) => "StageThrottleUpdated",
        (Action::UpdateUsagePlan { .. }, _) => "UsagePlanThrottleUpdated",
        (Action::PutAlarm { diff, .. }, _) if diff.is_empty() => "AlarmCreated",
        (Action::PutAlarm { .. }, _) => "AlarmUpdated",
        (Action::TagAlarm { .. }, _) => "AlarmTagged",
        (Action::DeleteAlarms { .. }, _) => "AlarmDeleted",
    }
}

fn event(type_: EventType, reason: &str, note: String) -> Event {
    Event {
        type_,
        reason: reason.to_owned(),
        // The events API caps a note at 1 kB.
        note: Some(truncate(note, 1000)),
        action: "Reconcile".to_owned(),
        secondary: None,
    }
}

fn normal(reason: &str, note: String) -> Event {
    event(EventType::Normal, reason, note)
}

fn warning(reason: &str, note: String) -> Event {
    event(EventType::Warning, reason, note)
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max - 3;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
    text
}
