//! Status from a reconcile report: kstatus conditions (Ready, Reconciling, Stalled), one
//! condition per control, and the alarms' live states.

use crate::core::crd::{
    AlarmStatus, ApiGatewayGuardSpec, ApiGatewayGuardStatus, Condition, ObjectiveStatus, READY,
    RECONCILING, STALLED, TierStatus, Verification,
};
use crate::core::model::{
    AlarmRule, AwsError, ObjectiveMetrics, ObjectivePart, Observed, StageMetrics,
};
use crate::core::plan::control::Control;
use crate::core::plan::cost;
use crate::core::plan::{Action, alarm_slots};
use crate::core::report::Report;
use crate::core::runbook::{self, Limits};
use crate::core::{dashboard, objective};

/// The wall-clock time as Kubernetes writes it.
pub fn now() -> String {
    crate::core::deploys::rfc3339(k8s_openapi::jiff::Timestamp::now().as_second())
}

/// A control's state after the reconcile.
#[derive(Clone, Debug, PartialEq)]
struct ControlState {
    control: Control,
    ok: bool,
    reason: String,
    message: String,
    retryable: bool,
}

/// Builds the status for `report`. Conditions whose status did not change keep the
/// `lastTransitionTime` of `previous`.
pub fn build(
    spec: &ApiGatewayGuardSpec,
    generation: Option<i64>,
    report: &Report,
    previous: Option<&ApiGatewayGuardStatus>,
    now: &str,
) -> ApiGatewayGuardStatus {
    let mut status = ApiGatewayGuardStatus {
        observed_generation: generation,
        account_id: report.account_id.clone(),
        ..Default::default()
    };
    let mut conditions = Vec::new();
    match &report.observed {
        Err(err) => {
            let reason = err.source.code.clone();
            let message = format!("{err}");
            let retryable = err.source.retryable;
            conditions.extend(kstatus(Standing::Failed { retryable }, &reason, &message));
            // Keep what earlier reconciles learnt; nothing new was read.
            if let Some(previous) = previous {
                if status.account_id.is_none() {
                    status.account_id = previous.account_id.clone();
                }
                status.api_kind = previous.api_kind;
                status.api_id = previous.api_id.clone();
                status.api_name = previous.api_name.clone();
                status.access_log_group = previous.access_log_group.clone();
                status.deployment = previous.deployment.clone();
                status.usage_plan_id = previous.usage_plan_id.clone();
                status.links = previous.links.clone();
            }
            // What `kubectl get` shows in its API column: the name the spec gives until AWS
            // resolved one (a guard refused before any read, or holding no stage).
            if let Some((kind, by)) = spec.api() {
                status.api_kind.get_or_insert(kind);
                // Not the id: a status id means AWS resolved it (tenancy reads it so).
                if status.api_name.is_none() {
                    status.api_name = by.name.clone();
                }
            }
        }
        Ok(observed) => {
            status.api_kind = Some(observed.api.kind);
            status.api_id = Some(observed.api.id.clone());
            status.api_name = Some(observed.api.name.clone());
            status.access_log_group = observed
                .log_group
                .as_ref()
                .and_then(|_| crate::core::plan::access_log_group(spec, &observed.api.id));
            status.usage_plan_id = observed
                .usage_plan
                .as_ref()
                .and_then(|plan| plan.as_ref().ok())
                .map(|plan| plan.id.clone());
            let states = control_states(spec, report);
            conditions.extend(guard_kstatus(spec, report, &states));
            conditions.extend(
                states
                    .iter()
                    .map(|s| cond(s.control.condition_type(), s.ok, &s.reason, &s.message)),
            );
            status.links = Some(dashboard::links(
                &report.guard,
                spec,
                &observed.api,
                status.access_log_group.as_deref(),
                &observed.region,
            ));
            status.alarms = alarm_statuses(spec, report);
            status.alarm_summary = summary(&status.alarms);
            status.objective = objective_status(spec, report, &status.alarms);
            status.deployment = match (&report.deployment, spec.controls.deployments.as_ref()) {
                (Some(deployment), _) => Some(deployment.status.clone()),
                // Kept while the stage's deployment could not be read.
                (None, Some(_)) => previous.and_then(|p| p.deployment.clone()),
                (None, None) => None,
            };
            if let Some(deployment) = &status.deployment {
                let (state, reason) = crate::core::deploys::condition(deployment);
                let mut condition = cond("DeploymentVerified", false, reason, &deployment.message);
                condition.status = state.to_owned();
                conditions.push(condition);
            }
            status.monthly_cost =
                Some(cost::monthly(&report.guard, spec, &observed.api).to_string());
            if let Some(metrics) = &report.metrics {
                let objective = spec.controls.slo.as_ref().zip(
                    report
                        .objective
                        .as_ref()
                        .and_then(|figures| figures.as_ref().ok()),
                );
                let (condition, verification) = verified(metrics, observed, objective);
                conditions.push(condition);
                status.verification = verification;
            }
        }
    }
    settle(
        &mut conditions,
        previous.map_or(&[], |p| &p.conditions),
        generation,
        now,
    );
    status.conditions = conditions;
    status
}

/// Stamps `conditions` with `generation`; those whose status did not change keep the
/// `lastTransitionTime` of `previous`, the others get `now`.
pub fn settle(
    conditions: &mut [Condition],
    previous: &[Condition],
    generation: Option<i64>,
    now: &str,
) {
    for condition in conditions {
        condition.observed_generation = generation;
        let unchanged = crate::core::crd::condition(previous, &condition.type_)
            .filter(|c| c.status == condition.status);
        condition.last_transition_time = Some(
            unchanged
                .and_then(|c| c.last_transition_time.clone())
                .unwrap_or_else(|| now.to_owned()),
        );
    }
}

/// A condition of `type_`, True when `ok`.
/// Where an object stands, in kstatus's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Done: Ready, nothing in progress, nothing stuck.
    Ready,
    /// Working towards Ready (Reconciling).
    Progressing,
    /// Failed: tried again (Reconciling), or not until something changes (Stalled).
    Failed { retryable: bool },
    /// Paused by the user: Ready as it stands, neither working nor stuck.
    Paused { ready: bool },
}

/// Ready, Reconciling and Stalled for `standing`, each with `reason` and `message`: the one
/// kstatus triplet of the guard, account and policy controllers.
pub fn kstatus(standing: Standing, reason: &str, message: &str) -> Vec<Condition> {
    let (ready, reconciling, stalled) = match standing {
        Standing::Ready => (true, false, false),
        Standing::Progressing => (false, true, false),
        Standing::Failed { retryable } => (false, retryable, !retryable),
        Standing::Paused { ready } => (ready, false, false),
    };
    vec![
        cond(READY, ready, reason, message),
        cond(RECONCILING, reconciling, reason, message),
        cond(STALLED, stalled, reason, message),
    ]
}

pub fn cond(type_: &str, ok: bool, reason: &str, message: &str) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: if ok { "True" } else { "False" }.to_owned(),
        reason: reason.to_owned(),
        message: message.to_owned(),
        last_transition_time: None,
        observed_generation: None,
    }
}

/// Each managed control: blocked, failed, updated, pending (dry run or suspended), or in sync.
fn control_states(spec: &ApiGatewayGuardSpec, report: &Report) -> Vec<ControlState> {
    let applied = !report.outcomes.is_empty();
    Control::ALL
        .into_iter()
        .filter(|control| control.is_managed(&spec.controls))
        .map(|control| {
            let state = |ok: bool, reason: &str, message: String, retryable: bool| ControlState {
                control,
                ok,
                reason: reason.to_owned(),
                message,
                retryable,
            };
            if let Some(blocker) = report.plan.blockers.iter().find(|b| b.control == control) {
                return state(
                    false,
                    &blocker.reason,
                    blocker.message.clone(),
                    blocker.retryable,
                );
            }
            let mine: Vec<_> = report
                .outcomes
                .iter()
                .filter(|o| o.action.controls().contains(&control))
                .collect();
            if let Some(err) = mine.iter().find_map(|o| o.result.as_ref().err()) {
                return state(false, &err.code, err.to_string(), err.retryable);
            }
            if !mine.is_empty() {
                let done: Vec<String> = mine
                    .iter()
                    .map(|o| o.action.describe_for(control))
                    .collect();
                return state(true, "Updated", done.join("; "), false);
            }
            let pending: Vec<String> = report
                .plan
                .actions
                .iter()
                .filter(|a| !applied && a.controls().contains(&control))
                .map(|a| a.describe_for(control))
                .collect();
            match pending.is_empty() {
                true => state(true, "InSync", "AWS matches the spec".to_owned(), false),
                false => state(false, "Pending", pending.join("; "), true),
            }
        })
        .collect()
}

/// Ready, Reconciling and Stalled from the control states.
fn guard_kstatus(
    spec: &ApiGatewayGuardSpec,
    report: &Report,
    states: &[ControlState],
) -> Vec<Condition> {
    let total = states.len();
    let failed: Vec<&ControlState> = states.iter().filter(|s| !s.ok).collect();
    let summary = format!("{}/{total} controls in sync", total - failed.len());
    if spec.controls.suspend {
        let message = format!(
            "suspend is true: no AWS writes; {summary}, {} change(s) pending",
            report.plan.actions.len()
        );
        let ready = failed.is_empty();
        return kstatus(Standing::Paused { ready }, "Suspended", &message);
    }
    if failed.is_empty() {
        return kstatus(Standing::Ready, "Guarded", &summary);
    }
    let details: Vec<String> = failed
        .iter()
        .map(|s| format!("{}: {}", s.control.condition_type(), s.message))
        .collect();
    let message = format!("{summary}; {}", details.join("; "));
    let stalled = failed.iter().find(|s| !s.retryable);
    let retrying = failed.iter().find(|s| s.retryable);
    vec![
        cond(READY, false, &failed[0].reason, &message),
        cond(
            RECONCILING,
            retrying.is_some(),
            retrying.map_or("Waiting", |s| &s.reason),
            &message,
        ),
        cond(
            STALLED,
            stalled.is_some(),
            stalled.map_or("Retrying", |s| &s.reason),
            &message,
        ),
    ]
}

/// The guard's alarms as they stand after the reconcile: live state for those that existed,
/// INSUFFICIENT_DATA (CloudWatch's starting state) for those just created. The runbook's
/// alarms and the objective's composites (what pages); not the metric alarms they name.
fn alarm_statuses(spec: &ApiGatewayGuardSpec, report: &Report) -> Vec<AlarmStatus> {
    let Ok(observed) = &report.observed else {
        return Vec::new();
    };
    let created = |name: &str| {
        report.outcomes.iter().any(|o| {
            o.result.is_ok() && matches!(&o.action, Action::PutAlarm { alarm, diff, .. } if alarm.name == name && diff.is_empty())
        })
    };
    let mut tier = 0;
    alarm_slots(&report.guard, spec, &observed.api)
        .into_iter()
        .filter_map(|(control, _, desired)| {
            let desired = desired?;
            let metric = match (control, &desired.rule) {
                (Control::Objective, AlarmRule::Composite { .. }) => {
                    tier += 1;
                    format!("error budget, tier {tier}")
                }
                (Control::Alarms, AlarmRule::Threshold(threshold)) => threshold.metric.shown(),
                _ => return None,
            };
            let state = match observed
                .alarms
                .iter()
                // Unread tags: the alarm needed no write, so it is reported as the guard's.
                .find(|(a, tags)| {
                    a.name == desired.name
                        && tags.as_ref().is_none_or(|tags| report.guard.owns(tags))
                }) {
                Some((alarm, _)) => alarm.state.clone(),
                None if created(&desired.name) => "INSUFFICIENT_DATA".to_owned(),
                None => return None,
            };
            Some(AlarmStatus {
                name: desired.name,
                metric,
                state,
            })
        })
        .collect()
}

/// The objective, each tier's state (its composite alarm's, as `alarms` has it) and the
/// error budget left; `None` without `spec.slo`.
fn objective_status(
    spec: &ApiGatewayGuardSpec,
    report: &Report,
    alarms: &[AlarmStatus],
) -> Option<ObjectiveStatus> {
    let slo = spec.controls.slo.as_ref()?;
    let figures = report
        .objective
        .as_ref()
        .and_then(|figures| figures.as_ref().ok());
    let budget = figures.map(|figures| objective::budget(slo, figures));
    let tiers = slo
        .tiers()
        .iter()
        .enumerate()
        .map(|(i, tier)| {
            let alarm = report
                .guard
                .objective_alarm_name(i + 1, ObjectivePart::Composite);
            let state = alarms
                .iter()
                .find(|a| a.name == alarm)
                .map_or("NOT_CREATED".to_owned(), |a| a.state.clone());
            TierStatus {
                tier: i as i32 + 1,
                rule: objective::rule_text(tier),
                alarm,
                state,
            }
        })
        .collect();
    Some(ObjectiveStatus {
        objective: objective::describe(slo),
        budget_remaining_percent: budget
            .as_ref()
            .and_then(|b| b.remaining_percent)
            .map(|p| (p * 100.0).round() / 100.0),
        requests: figures.and_then(|f| f.requests).map(significant),
        errors: figures.and_then(|f| f.errors).map(significant),
        burn_rate_last_hour: budget.and_then(|b| b.burn_last_hour).map(significant),
        tiers,
    })
}

/// The Verified condition and the figures behind it; a failed read is Unknown with its code.
/// With an objective, the budget decides errors: a latest full hour that burned it faster
/// than 1x is not verified, and the window's errors count against the objective's share.
fn verified(
    metrics: &Result<StageMetrics, AwsError>,
    observed: &Observed,
    objective: Option<(&crate::core::crd::ObjectiveSpec, &ObjectiveMetrics)>,
) -> (Condition, Option<Verification>) {
    let metrics = match metrics {
        Ok(metrics) => metrics,
        Err(err) => {
            let mut condition = cond("Verified", false, &err.code, &err.to_string());
            condition.status = "Unknown".to_owned();
            return (condition, None);
        }
    };
    let metrics = &StageMetrics {
        five_xx: metrics.five_xx.map(significant),
        four_xx: metrics.four_xx.map(significant),
        count: metrics.count.map(significant),
        latency_p99: metrics.latency_p99.map(significant),
        integration_latency_p99: metrics.integration_latency_p99.map(significant),
        ..metrics.clone()
    };
    let allowed = objective.map_or(0.0, |(slo, _)| slo.budget());
    let verdict = runbook::verify_within(metrics, &Limits::of(observed), allowed);
    let burning = objective.and_then(|(slo, figures)| {
        let burn = objective::budget(slo, figures).burn_last_hour?;
        let names = &observed.api.kind.profile().metrics;
        (burn > 1.0).then(|| {
            format!(
                "the error budget burned at {:.1}x over the latest full hour ({} {} of {} {}; \
                 {} allows {:.3} %)",
                significant(burn),
                figures.hour_errors.unwrap_or(0.0),
                names.server_errors_label,
                figures.hour_requests.unwrap_or(0.0),
                names.traffic_label.to_lowercase(),
                objective::describe(slo),
                100.0 * slo.budget()
            )
        })
    });
    let condition = match burning {
        Some(message) => cond("Verified", false, "BudgetBurning", &message),
        None => {
            let mut condition = cond("Verified", false, verdict.reason, &verdict.message);
            condition.status = verdict.status.to_owned();
            condition
        }
    };
    let verification = Verification {
        window_seconds: metrics.period,
        requests: metrics.count,
        five_xx_errors: metrics.five_xx,
        four_xx_errors: metrics.four_xx,
        latency_p99_ms: metrics.latency_p99,
        integration_latency_p99_ms: metrics.integration_latency_p99,
    };
    (condition, Some(verification))
}

/// `value` to 3 significant digits (1234 -> 1230, 28_950 -> 29_000). Live figures change with
/// every request; written exactly, they would rewrite every guard with traffic on every
/// resync. Rounded, a status write means the traffic changed by about 1 % or more.
fn significant(value: f64) -> f64 {
    if value == 0.0 || !value.is_finite() {
        return value;
    }
    let scale = 10f64.powi(2 - value.abs().log10().floor() as i32);
    (value * scale).round() / scale
}

/// "1 ALARM, 2 OK": the worst states first.
fn summary(alarms: &[AlarmStatus]) -> Option<String> {
    let parts: Vec<String> = ["ALARM", "INSUFFICIENT_DATA", "OK"]
        .iter()
        .filter_map(|state| {
            let n = alarms.iter().filter(|a| a.state == *state).count();
            (n > 0).then(|| format!("{n} {state}"))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

#[cfg(test)]
mod tests;
