//! The Kubernetes events a reconcile tells humans about: every change made in AWS, drift put
//! back, new problems, and an owned alarm entering ALARM.

use kube::runtime::events::{Event, EventType};

use crate::core::crd::{ApiGatewayGuardStatus, Condition, READY, RECONCILING, STALLED, condition};
use crate::core::model::{AwsError, QUOTA_QUEUED};
use crate::core::plan::Action;
use crate::core::plan::control::{Control, StageEvent};
use crate::core::report::Report;
use crate::core::runbook::{self, Limits};

/// Events for one reconcile. `previous` is the status before it, `current` the one after; a
/// problem is reported when it first appears, not on every resync.
///
/// Long: one event per kind of outcome (a write, a failure, a blocker, an alarm, the
/// deployment, the objective), in the order humans read them.
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
                        .and_then(|p| condition(&p.conditions, control.condition_type()))
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
            // Waiting for a turn under AWS's quota is not a failure.
            Err(err) if err.is_queued() => {
                events.push(normal(&format!("{}Queued", err.operation), err.to_string()))
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
    let cause = match (&report.metrics, &report.observed) {
        // No requests to read a cause from: naming an error class would be a guess.
        (Some(Ok(metrics)), Ok(_)) if metrics.count.unwrap_or(0.0) <= 0.0 => format!(
            "the stage served no requests in the last {} s, so no cause can be read from its \
             figures: the burst may have ended, or traffic stopped (`apigw-guard diagnose \
             --since 1h` reads further back)",
            metrics.period
        ),
        (Some(Ok(metrics)), Ok(observed)) => {
            let limits = Limits::of(observed);
            runbook::classify(&runbook::Evidence::window(metrics), &limits).explain()
        }
        _ => "run `apigw-guard diagnose` for the runbook's diagnosis".to_owned(),
    };
    // First in the note: the events API keeps only its first kilobyte.
    let dashboard = current
        .links
        .as_ref()
        .and_then(|links| links.dashboard.as_ref())
        .map(|url| format!("dashboard: {url}; "))
        .unwrap_or_default();
    let tiers = current.objective.iter().flat_map(|o| &o.tiers);
    for tier in tiers.clone().filter(|t| t.state == "ALARM") {
        let was_burning = previous
            .and_then(|p| p.objective.as_ref())
            .is_some_and(|o| {
                o.tiers
                    .iter()
                    .any(|old| old.alarm == tier.alarm && old.state == "ALARM")
            });
        if !was_burning {
            let left = current
                .objective
                .as_ref()
                .and_then(|o| o.budget_remaining_percent)
                .map_or("the budget left is not known yet".to_owned(), |left| {
                    format!("{left} % of the error budget left")
                });
            events.push(warning(
                "ObjectiveBurning",
                format!(
                    "tier {} of the objective ({}) is in ALARM (alarm {}); {left}; \
                     {dashboard}{cause}",
                    tier.tier, tier.rule, tier.alarm
                ),
            ));
        }
    }
    if let Some(deployment) = &current.deployment {
        events.extend(deployment_event(
            previous.and_then(|p| p.deployment.as_ref()),
            deployment,
        ));
    }
    // A tier's composite is told of above.
    let runbook_alarms = current
        .alarms
        .iter()
        .filter(|a| !tiers.clone().any(|t| t.alarm == a.name));
    for alarm in runbook_alarms.filter(|a| a.state == "ALARM") {
        let was_firing = previous.is_some_and(|p| {
            p.alarms
                .iter()
                .any(|old| old.name == alarm.name && old.state == "ALARM")
        });
        if !was_firing {
            events.push(warning(
                "AlarmFiring",
                format!(
                    "alarm {} ({}) is in ALARM; {dashboard}{cause}",
                    alarm.name, alarm.metric
                ),
            ));
        }
    }
    merge_by_reason(events)
}

/// The event of a deployment's verdict when it changed: a new window, verified, regressed,
/// rolled back. The deployment first found (the baseline) is not told of.
fn deployment_event(
    previous: Option<&crate::core::crd::DeploymentStatus>,
    current: &crate::core::crd::DeploymentStatus,
) -> Option<Event> {
    use crate::core::deploys::{REGRESSED, ROLLED_BACK, VERIFIED, VERIFYING};
    let same = previous.is_some_and(|p| p.id == current.id && p.verdict == current.verdict);
    if same || previous.is_none() {
        return None;
    }
    let note = current.message.clone();
    match current.verdict.as_str() {
        VERIFYING => Some(normal("DeploymentVerifying", note)),
        VERIFIED => Some(normal("DeploymentVerified", note)),
        REGRESSED => Some(warning("DeploymentRegressed", note)),
        ROLLED_BACK => Some(warning("RolledBack", note)),
        _ => None,
    }
}

/// One event per type and reason of one reconcile, notes joined: what one pass did reads as
/// one line per kind of change in `kubectl describe`.
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

/// The event for a guard's own dashboard removed with it.
pub fn dashboard_deleted(name: &str) -> Event {
    normal(
        "DashboardDeleted",
        format!("deleted owned dashboard {name}"),
    )
}

/// The event for an access log group this guard made, deleted with the guard.
pub fn log_group_deleted(name: &str) -> Event {
    normal(
        "LogGroupDeleted",
        format!("deleted access log group {name}, which this guard made"),
    )
}

/// The event for a delete that cannot clean up yet.
pub fn cleanup_blocked(err: &AwsError) -> Event {
    warning(
        "CleanupBlocked",
        format!(
            "{}: {}; the owned alarms stay until it can, or set deletionPolicy: Retain",
            err.code, err.message
        ),
    )
}

/// The event for a delete that leaves AWS as it is.
pub fn retained(why: &str) -> Event {
    normal(
        "Retained",
        format!("{why}: the guard's alarms are left in AWS"),
    )
}

/// A failed control whose reason differs from the last status; when AWS could not be read
/// there are no control conditions, and Ready carries the problem.
fn is_new_problem(
    condition: &Condition,
    observed: bool,
    previous: Option<&ApiGatewayGuardStatus>,
) -> bool {
    let kstatus = matches!(condition.type_.as_str(), READY | RECONCILING | STALLED);
    let problem = match (kstatus, observed) {
        (true, true) => false,
        (true, false) => condition.type_ == READY,
        (false, _) => {
            condition.status == "False"
                && !["Pending", QUOTA_QUEUED].contains(&condition.reason.as_str())
        }
    };
    problem
        && previous
            .and_then(|p| crate::core::crd::condition(&p.conditions, &condition.type_))
            .is_none_or(|old| old.status != condition.status || old.reason != condition.reason)
}

fn change_reason(action: &Action, control: Control) -> &'static str {
    match (action, control) {
        (Action::UpdateStage { changes, .. }, control) => stage_reason(control, changes),
        (Action::CreateLogGroup { .. }, _) => "LogGroupCreated",
        (Action::PutRetention { .. }, _) => "LogGroupRetentionUpdated",
        (Action::DisableAccessLogs { .. }, _) => "AccessLoggingDisabled",
        (Action::UpdateUsagePlan { .. }, _) => "UsagePlanThrottleUpdated",
        (Action::PutAlarm { diff, .. }, _) if diff.is_empty() => "AlarmCreated",
        (Action::PutAlarm { .. }, _) => "AlarmUpdated",
        (Action::TagAlarm { .. }, _) => "AlarmTagged",
        (Action::DeleteAlarms { .. }, _) => "AlarmDeleted",
        (Action::PutDashboard { diff, .. }, _) if diff.is_empty() => "DashboardCreated",
        (Action::PutDashboard { .. }, _) => "DashboardUpdated",
        (Action::DeleteDashboards { .. }, _) => "DashboardDeleted",
        (Action::RetireAlarms { .. } | Action::RetireDashboard { .. }, _) => "Renamed",
    }
}

/// What an UpdateStage did to `control`. Every control is named, so a new one that the
/// stage holds gets its own reason rather than another's.
fn stage_reason(control: Control, changes: &[crate::core::plan::Change]) -> &'static str {
    match control.declared().stage_event {
        StageEvent::Updated(reason) => reason,
        StageEvent::OnOff(on, off) => {
            match changes
                .iter()
                .any(|c| c.control == control && c.op.value == "true")
            {
                true => on,
                false => off,
            }
        }
        // An UpdateStage never names it.
        StageEvent::NotAStageSetting => "StageUpdated",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::crd::{AlarmStatus, ApiGatewayGuardSpec};
    use crate::core::fixtures;
    use crate::core::model::{ApiKind, AwsError, StageMetrics};
    use crate::core::status;

    fn spec() -> ApiGatewayGuardSpec {
        serde_yaml::from_str(
            "restApi: {name: api}\nstage: prod\ntracing: {enabled: true}\nalarms: {}",
        )
        .unwrap()
    }

    fn report(tracing: bool, result: Result<(), AwsError>) -> Report {
        let mut observed = fixtures::observed(ApiKind::Rest, "id", "api");
        observed.stage.tracing_enabled = Some(tracing);
        fixtures::report(&fixtures::guard_id("ns", "g"), &spec(), observed, result)
    }

    fn reasons(events: &[Event]) -> Vec<(&str, EventType)> {
        events
            .iter()
            .map(|e| (e.reason.as_str(), e.type_))
            .collect()
    }

    #[test]
    fn changes_are_normal_events_one_per_reason() {
        let report = report(false, Ok(()));
        let current = status::build(&spec(), Some(1), &report, None, "t");
        let events = for_reconcile(Some(1), &report, None, &current);
        assert_eq!(
            reasons(&events),
            [
                ("TracingEnabled", EventType::Normal),
                ("AlarmCreated", EventType::Normal)
            ]
        );
        let note = events[1].note.as_deref().unwrap();
        assert_eq!(note.matches("put-metric-alarm").count(), 3, "{note}");
    }

    #[test]
    fn a_write_with_an_unchanged_spec_is_drift() {
        let first = report(false, Ok(()));
        let previous = status::build(&spec(), Some(1), &first, None, "t1");
        let mut drifted = report(false, Ok(()));
        drifted
            .outcomes
            .retain(|o| o.action.controls().contains(&Control::Tracing));
        let current = status::build(&spec(), Some(1), &drifted, Some(&previous), "t2");
        let events = for_reconcile(Some(1), &drifted, Some(&previous), &current);
        assert_eq!(reasons(&events), [("DriftCorrected", EventType::Warning)]);
        // The same write after a spec change is the change itself, not drift.
        let events = for_reconcile(Some(2), &drifted, Some(&previous), &current);
        assert_eq!(reasons(&events), [("TracingEnabled", EventType::Normal)]);
    }

    #[test]
    fn failures_are_warnings_reported_when_new() {
        let throttled = AwsError {
            operation: "UpdateStage",
            code: "TooManyRequestsException".to_owned(),
            message: "slow down".to_owned(),
            retryable: true,
            retry_after: None,
        };
        let report = report(false, Err(throttled));
        let current = status::build(&spec(), Some(1), &report, None, "t");
        let events = for_reconcile(Some(1), &report, None, &current);
        let got = reasons(&events);
        assert!(
            got.contains(&("UpdateStageFailed", EventType::Warning)),
            "{got:?}"
        );
        assert!(
            got.contains(&("TooManyRequestsException", EventType::Warning)),
            "{got:?}"
        );
        let again = for_reconcile(Some(1), &report, Some(&current), &current);
        assert_eq!(
            reasons(&again),
            [("UpdateStageFailed", EventType::Warning)],
            "the condition is old news"
        );
    }

    #[test]
    fn a_call_queued_under_a_slow_quota_is_news_not_a_warning() {
        let booked = crate::core::model::AwsError::queued(
            "UpdateUsagePlan",
            &crate::aws::Booked {
                wait: std::time::Duration::from_secs(40),
                ahead: 1,
                limit: crate::aws::Limit {
                    per_second: 0.05,
                    burst: 1,
                },
            },
        );
        let report = report(false, Err(booked));
        let current = status::build(&spec(), Some(1), &report, None, "t");
        let events = for_reconcile(Some(1), &report, None, &current);
        assert!(
            events.iter().all(|e| e.type_ == EventType::Normal),
            "{:?}",
            reasons(&events)
        );
        assert!(reasons(&events).contains(&("UpdateUsagePlanQueued", EventType::Normal)));
        let note = events
            .iter()
            .find(|e| e.reason == "UpdateUsagePlanQueued")
            .and_then(|e| e.note.clone())
            .unwrap_or_default();
        assert!(
            note.contains("one UpdateUsagePlan every 20 s") && note.contains("sent in 40 s"),
            "{note}"
        );
    }

    #[test]
    fn an_alarm_entering_alarm_is_announced_once() {
        let report = report(true, Ok(()));
        let mut previous = status::build(&spec(), Some(1), &report, None, "t");
        let firing = AlarmStatus {
            name: "apigw-guard-ns-g-5xx".to_owned(),
            metric: "5XXError".to_owned(),
            state: "ALARM".to_owned(),
        };
        let mut current = previous.clone();
        current.alarms = vec![firing.clone()];
        let no_writes = Report {
            outcomes: Vec::new(),
            metrics: None,
            objective: None,
            deployment: None,
            ..report
        };
        let events = for_reconcile(Some(1), &no_writes, Some(&previous), &current);
        assert_eq!(reasons(&events), [("AlarmFiring", EventType::Warning)]);
        assert!(
            events[0]
                .note
                .as_deref()
                .unwrap()
                .contains("apigw-guard-ns-g-5xx (5XXError)")
        );
        assert!(
            events[0]
                .note
                .as_deref()
                .unwrap()
                .contains("apigw-guard diagnose"),
            "without figures it points at diagnose"
        );
        let timing_out = Report {
            metrics: Some(Ok(crate::core::model::StageMetrics {
                period: 300,
                count: Some(600.0),
                five_xx: Some(40.0),
                integration_latency_p99: Some(28_900.0),
                ..Default::default()
            })),
            ..no_writes.clone()
        };
        let events = for_reconcile(Some(1), &timing_out, Some(&previous), &current);
        let note = events[0].note.as_deref().unwrap();
        assert!(
            note.contains("likely 504 Gateway Timeout: p99 IntegrationLatency 28900 ms"),
            "{note}"
        );
        assert!(
            !note.contains("dashboard:"),
            "no dashboard, no link: {note}"
        );
        // With a dashboard, its link comes first, where the events API's 1 kB cut cannot
        // reach it.
        let mut with_dashboard = current.clone();
        let url = "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1\
                   #dashboards/dashboard/apigw-guard-ns-g";
        with_dashboard.links.as_mut().unwrap().dashboard = Some(url.to_owned());
        let events = for_reconcile(Some(1), &timing_out, Some(&previous), &with_dashboard);
        let note = events[0].note.as_deref().unwrap();
        assert!(
            note.starts_with(&format!(
                "alarm apigw-guard-ns-g-5xx (5XXError) is in ALARM; dashboard: {url}; likely 504"
            )),
            "{note}"
        );
        previous.alarms = vec![firing];
        assert_eq!(
            for_reconcile(Some(1), &no_writes, Some(&previous), &current).len(),
            0
        );
    }

    #[test]
    fn long_notes_are_cut_at_a_char_boundary() {
        let cut = truncate("é".repeat(600), 1000);
        assert!(cut.len() <= 1000);
        assert!(cut.ends_with("..."));
    }

    #[test]
    fn a_tier_entering_alarm_is_told_once_with_the_budget_left() {
        use crate::core::crd::{ObjectiveStatus, TierStatus};
        let status = |state: &str| ApiGatewayGuardStatus {
            objective: Some(ObjectiveStatus {
                objective: "99.9 % of requests without a 5XX over 30 days".to_owned(),
                budget_remaining_percent: Some(50.0),
                tiers: vec![TierStatus {
                    tier: 1,
                    rule: "14.4x over 1h, confirmed over 5m".to_owned(),
                    alarm: "apigw-guard-ns_g_slo1".to_owned(),
                    state: state.to_owned(),
                }],
                ..Default::default()
            }),
            alarms: vec![AlarmStatus {
                name: "apigw-guard-ns_g_slo1".to_owned(),
                metric: "error budget, tier 1".to_owned(),
                state: state.to_owned(),
            }],
            ..Default::default()
        };
        let report = report(true, Ok(()));
        let (calm, burning) = (status("OK"), status("ALARM"));
        let told = for_reconcile(Some(1), &report, Some(&calm), &burning);
        let burns: Vec<&str> = told
            .iter()
            .filter(|e| e.reason == "ObjectiveBurning")
            .filter_map(|e| e.note.as_deref())
            .collect();
        assert_eq!(burns.len(), 1);
        assert!(
            burns[0].starts_with(
                "tier 1 of the objective (14.4x over 1h, confirmed over 5m) is in ALARM (alarm \
                 apigw-guard-ns_g_slo1); 50 % of the error budget left"
            ),
            "{}",
            burns[0]
        );
        // Not as AlarmFiring too, and not again while it stays in ALARM.
        assert!(!told.iter().any(|e| e.reason == "AlarmFiring"));
        let again = for_reconcile(Some(1), &report, Some(&burning), &burning);
        assert!(!again.iter().any(|e| e.reason == "ObjectiveBurning"));
    }

    #[test]
    fn a_tier_in_alarm_with_no_traffic_names_no_error_class() {
        use crate::core::crd::{ObjectiveStatus, TierStatus};
        let burning = ApiGatewayGuardStatus {
            objective: Some(ObjectiveStatus {
                tiers: vec![TierStatus {
                    tier: 1,
                    rule: "14.4x over 1h, confirmed over 5m".to_owned(),
                    alarm: "apigw-guard-ns_g_slo1".to_owned(),
                    state: "ALARM".to_owned(),
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut quiet = report(true, Ok(()));
        quiet.metrics = Some(Ok(StageMetrics {
            period: 300,
            count: Some(0.0),
            ..Default::default()
        }));
        let told = for_reconcile(Some(1), &quiet, None, &burning);
        let note = told
            .iter()
            .find(|e| e.reason == "ObjectiveBurning")
            .and_then(|e| e.note.clone())
            .unwrap();
        assert!(
            note.contains("served no requests in the last 300 s"),
            "{note}"
        );
        assert!(!note.contains("likely"), "{note}");
    }
}
