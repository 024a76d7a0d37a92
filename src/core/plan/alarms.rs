//! The runbook's CloudWatch alarms (5XX errors, Latency, IntegrationLatency) with their
//! actions and ownership tags, and what every alarm the guard keeps shares (the objective's
//! too): the slots under today's names, the managed fields and their diff, the writes.

use crate::core::crd::ApiGatewayGuardSpec;
use crate::core::model::{
    AlarmConfig, AlarmKind, AlarmMetric, AlarmRule, GuardId, GuardedApi, MathQuery, MetricStat,
    OWNER_TAG, Observed, Query, Tag, Threshold, alarm_description,
};
use crate::core::objective;
use crate::core::plan::control::{Declared, StageEvent};
use crate::core::plan::cost::{MonthlyCost, PRICES};
use crate::core::plan::{Action, Blocker, Control, Draft};

const NAMESPACE: &str = "AWS/ApiGateway";
const COMPARISON: &str = "GreaterThanThreshold";

pub(super) const DECLARED: Declared = Declared {
    section: "alarms",
    condition: "Alarms",
    asked: |c| c.alarms.is_some(),
    stage_event: StageEvent::NotAStageSetting,
    summary: "CloudWatch alarms on 5XX errors (Sum over 300 s > 10), `Latency` (p99 > 1 s), \
              `IntegrationLatency` (p99 > 500 ms), SNS actions, ownership tags",
    step,
    cost: Some(|guard, spec, api| cost(Control::Alarms, guard, spec, api)),
};

/// What `control`'s alarms cost a month: a composite's flat price, a metric alarm's per
/// metric it reads.
pub(super) fn cost(
    control: Control,
    guard: &GuardId,
    spec: &ApiGatewayGuardSpec,
    api: &GuardedApi,
) -> MonthlyCost {
    let mut cost = MonthlyCost::default();
    for (_, alarm) in slots_of(control, guard, spec, api) {
        if let Some(alarm) = alarm {
            cost.alarms += 1;
            cost.alarms_usd += match &alarm.rule {
                AlarmRule::Composite { .. } => PRICES.composite_alarm,
                AlarmRule::Threshold(threshold) => {
                    PRICES.standard_alarm * threshold.metric.metric_count() as f64
                }
            };
        }
    }
    cost
}

/// The alarm the spec wants of one kind, or `None` when it wants none (or the API's kind
/// publishes no metric for it). An objective replaces the 5XX count alarm unless
/// `slo.countAlarm` keeps it. Where the kind counts the alarm's failures in more than one
/// metric (a WebSocket API's integration and execution errors), the alarm is on their sum.
pub fn desired_alarm(
    guard: &GuardId,
    spec: &ApiGatewayGuardSpec,
    api: &GuardedApi,
    kind: AlarmKind,
) -> Option<AlarmConfig> {
    let alarms = spec
        .controls
        .alarms
        .as_ref()
        .filter(|_| kind.is_kept(spec))?;
    let alarm = kind.settings(alarms);
    let stat = |metric: &str| MetricStat {
        namespace: NAMESPACE.to_owned(),
        metric_name: metric.to_owned(),
        dimensions: api.dimensions(&spec.stage),
        statistic: alarm.statistic.clone(),
        period: alarm.period_seconds,
    };
    let metric = match kind.metrics(api.kind) {
        [] => return None,
        [one] => AlarmMetric::Stat(stat(one)),
        several => AlarmMetric::Math(MathQuery::sum(
            "errors",
            several.iter().map(|m| stat(m)).collect(),
            true,
        )),
    };
    Some(AlarmConfig {
        name: guard.alarm_name(kind),
        description: alarm_description(format!(
            "API Gateway {} of {}/{}, guarded by apigw-guard {}; see the API Gateway 5XX runbook",
            metric.shown(),
            api.shown_name(),
            spec.stage,
            guard.owner()
        )),
        actions_enabled: true,
        actions: alarms.actions.clone(),
        ok_actions: alarms.ok_actions.clone(),
        rule: AlarmRule::Threshold(Threshold {
            metric,
            evaluation_periods: alarm.evaluation_periods,
            datapoints_to_alarm: None,
            threshold: alarm.threshold,
            comparison: COMPARISON.to_owned(),
            treat_missing_data: alarms.treat_missing_data.as_aws().to_owned(),
        }),
    })
}

/// Every alarm the guard may have under today's names, with the control it serves and what
/// the spec wants of it (`None`: nothing, so an owned one is deleted), in write order: the
/// runbook's alarms, then the objective's (composites after what they name).
pub fn alarm_slots(
    guard: &GuardId,
    spec: &ApiGatewayGuardSpec,
    api: &GuardedApi,
) -> Vec<(Control, String, Option<AlarmConfig>)> {
    [Control::Alarms, Control::Objective]
        .into_iter()
        .flat_map(|control| {
            slots_of(control, guard, spec, api)
                .into_iter()
                .map(move |(name, desired)| (control, name, desired))
        })
        .collect()
}

/// [`alarm_slots`] of one control alone (the runbook's alarms, or the objective's), so that
/// each control's step and cost compute only its own.
fn slots_of(
    control: Control,
    guard: &GuardId,
    spec: &ApiGatewayGuardSpec,
    api: &GuardedApi,
) -> Vec<(String, Option<AlarmConfig>)> {
    if control == Control::Objective {
        let mut wanted = objective::alarms(guard, spec, api);
        return guard
            .objective_alarm_names()
            .into_iter()
            .map(|name| {
                let desired = wanted
                    .iter()
                    .position(|alarm| alarm.name == name)
                    .map(|i| wanted.remove(i));
                (name, desired)
            })
            .collect();
    }
    AlarmKind::ALL
        .into_iter()
        .map(|kind| {
            (
                guard.alarm_name(kind),
                desired_alarm(guard, spec, api, kind),
            )
        })
        .collect()
}

/// Each managed field of an alarm, by the name diffs show, as text.
fn managed_fields(alarm: &AlarmConfig) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("description", alarm.description.clone()),
        ("actionsEnabled", alarm.actions_enabled.to_string()),
        ("actions", format!("{:?}", alarm.actions)),
        ("okActions", format!("{:?}", alarm.ok_actions)),
    ];
    match &alarm.rule {
        AlarmRule::Composite { rule, suppressor } => {
            fields.push(("type", "composite".to_owned()));
            fields.push(("rule", rule.clone()));
            fields.push((
                "actionsSuppressor",
                suppressor.as_ref().map_or("none".to_owned(), |s| {
                    format!(
                        "{} (wait {}s, extension {}s)",
                        s.alarm, s.wait_period, s.extension_period
                    )
                }),
            ));
        }
        AlarmRule::Threshold(threshold) => {
            match &threshold.metric {
                AlarmMetric::Stat(stat) => {
                    fields.push(("type", "metric".to_owned()));
                    fields.push(("namespace", stat.namespace.clone()));
                    fields.push(("metric", stat.metric_name.clone()));
                    fields.push(("statistic", stat.statistic.clone()));
                    fields.push(("dimensions", format!("{:?}", stat.dimensions)));
                    fields.push(("period", stat.period.to_string()));
                }
                AlarmMetric::Math(queries) => {
                    fields.push(("type", "metric math".to_owned()));
                    for query in queries {
                        let text = match &query.query {
                            Query::Expression(expression) => expression.clone(),
                            Query::Stat(stat) => format!(
                                "{}/{} {} {:?} {}s",
                                stat.namespace,
                                stat.metric_name,
                                stat.statistic,
                                stat.dimensions,
                                stat.period
                            ),
                        };
                        let returned = if query.return_data { " (returned)" } else { "" };
                        fields.push(("metrics", format!("{}: {text}{returned}", query.id)));
                    }
                }
            }
            fields.push((
                "evaluationPeriods",
                threshold.evaluation_periods.to_string(),
            ));
            fields.push((
                "datapointsToAlarm",
                threshold
                    .datapoints_to_alarm
                    .unwrap_or(threshold.evaluation_periods)
                    .to_string(),
            ));
            fields.push(("threshold", threshold.threshold.to_string()));
            fields.push(("comparison", threshold.comparison.clone()));
            fields.push(("treatMissingData", threshold.treat_missing_data.clone()));
        }
    }
    fields
}

/// The managed fields in which `observed` differs from `desired`, as `field: old -> new`.
fn alarm_diff(desired: &AlarmConfig, observed: Option<&AlarmConfig>) -> Vec<String> {
    let Some(observed) = observed else {
        return vec!["fields missing in AWS".to_owned()];
    };
    let (old, new) = (managed_fields(observed), managed_fields(desired));
    if old.len() != new.len() {
        let shape = |fields: &[(&str, String)]| {
            let kind = fields.iter().find(|(name, _)| *name == "type");
            format!(
                "{} field(s) of a {} alarm",
                fields.len(),
                kind.map_or("", |(_, v)| v.as_str())
            )
        };
        return vec![format!("shape: {} -> {}", shape(&old), shape(&new))];
    }
    old.into_iter()
        .zip(new)
        .filter(|((_, old), (_, new))| old != new)
        .map(|((name, old), (_, new))| format!("{name}: {old} -> {new}"))
        .collect()
}

fn step(guard: &GuardId, spec: &ApiGatewayGuardSpec, observed: &Observed, draft: &mut Draft) {
    let blocked = keep(Control::Alarms, guard, spec, observed, draft);
    // Alarms under the first naming that this guard owns (by tag; another guard's of the same
    // name is not looked at): replaced by the ones above, then deleted. One whose successor
    // cannot be written (its name is taken) stays: the stage keeps an alarm.
    let retired: Vec<String> = AlarmKind::ALL
        .into_iter()
        .zip(guard.legacy_alarm_names())
        .filter(|(kind, _)| !blocked.contains(&guard.alarm_name(*kind)))
        .filter(|(_, name)| {
            observed.alarms.iter().any(|(alarm, tags)| {
                &alarm.name == name && tags.as_ref().is_some_and(|tags| guard.owns(tags))
            })
        })
        .map(|(_, name)| name)
        .collect();
    if !retired.is_empty() {
        draft.retire.push(Action::RetireAlarms { names: retired });
    }
}

/// Keeps `control`'s alarms (the runbook's or the objective's): each created, put back or
/// tagged as the spec wants, an owned one it no longer wants deleted, and one of the name that
/// someone else owns left alone and reported. Returns the names left alone.
pub(super) fn keep(
    control: Control,
    guard: &GuardId,
    spec: &ApiGatewayGuardSpec,
    observed: &Observed,
    draft: &mut Draft,
) -> Vec<String> {
    let wanted_tags = guard.tags();
    let mut deletes: Vec<(String, bool)> = Vec::new();
    let mut blocked = Vec::new();
    for (name, desired) in slots_of(control, guard, spec, &observed.api) {
        let existing = observed.alarms.iter().find(|(alarm, _)| alarm.name == name);
        match (desired, existing) {
            (None, None) => {}
            (Some(alarm), None) => draft.after.push(Action::PutAlarm {
                control,
                alarm: Box::new(alarm),
                tags: wanted_tags.clone(),
                diff: Vec::new(),
            }),
            (desired, Some((alarm, tags))) => {
                // Unread tags count as the guard's here: any write this plans makes the
                // reconcile read them and plan again.
                if let Some(tags) = tags.as_ref().filter(|tags| !guard.owns(tags)) {
                    let owner = tags
                        .iter()
                        .find(|(key, _)| key == OWNER_TAG)
                        .map(|(_, v)| v.as_str());
                    // Someone else's alarm: never touched, whatever the spec wants.
                    if desired.is_some() {
                        blocked.push(name.clone());
                        draft.blockers.push(Blocker {
                            control,
                            reason: "Conflict".to_owned(),
                            message: format!(
                                "alarm {name} exists and is owned by {}, not by this guard; \
                                 it is left untouched",
                                owner.map_or(
                                    "nobody (no apigw-guard.dev/owner tag)".to_owned(),
                                    |o| o.to_owned()
                                )
                            ),
                            retryable: false,
                        });
                    }
                    continue;
                }
                let Some(desired) = desired else {
                    let composite = alarm.config.as_ref().is_some_and(AlarmConfig::is_composite);
                    deletes.push((name, composite));
                    continue;
                };
                let diff = alarm_diff(&desired, alarm.config.as_ref());
                if !diff.is_empty() {
                    draft.after.push(Action::PutAlarm {
                        control,
                        alarm: Box::new(desired),
                        tags: wanted_tags.clone(),
                        diff,
                    });
                }
                let missing: Vec<Tag> = wanted_tags
                    .iter()
                    .filter(|t| tags.as_ref().is_some_and(|tags| !tags.contains(t)))
                    .cloned()
                    .collect();
                if !missing.is_empty() {
                    draft.after.push(Action::TagAlarm {
                        control,
                        name,
                        arn: alarm.arn.clone(),
                        tags: missing,
                    });
                }
            }
        }
    }
    // Composites first, slowest tier first, one a call: AWS refuses to delete an alarm a
    // composite still names, and deletes one composite a call. Then the rest in one call.
    for (name, _) in deletes.iter().filter(|(_, composite)| *composite).rev() {
        draft.retire.push(Action::DeleteAlarms {
            control,
            names: vec![name.clone()],
        });
    }
    let names: Vec<String> = deletes
        .into_iter()
        .filter(|(_, composite)| !composite)
        .map(|(name, _)| name)
        .collect();
    if !names.is_empty() {
        draft.retire.push(Action::DeleteAlarms { control, names });
    }
    blocked
}
