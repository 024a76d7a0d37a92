use super::*;
use crate::core::fixtures;
use crate::core::model::{ApiKind, AwsError, GuardId, Observed, ObservedAlarm};
use crate::core::plan::{Blocker, Plan, plan};
use crate::core::report::ObserveError;

const SPEC: &str = "
restApi: {name: orders-api}
stage: prod
tracing: {enabled: true}
alarms: {}
";

fn spec() -> ApiGatewayGuardSpec {
    serde_yaml::from_str(SPEC).unwrap()
}

fn guard() -> GuardId {
    fixtures::guard_id("ns", "g")
}

fn observed() -> Observed {
    fixtures::observed(ApiKind::Rest, "id1", "orders-api")
}

/// A report whose actions all end with `result`.
fn report(observed: Observed, result: Result<(), AwsError>) -> Report {
    fixtures::report(&guard(), &spec(), observed, result)
}

fn conditions(status: &ApiGatewayGuardStatus) -> Vec<(&str, &str, &str)> {
    status
        .conditions
        .iter()
        .map(|c| (c.type_.as_str(), c.status.as_str(), c.reason.as_str()))
        .collect()
}

fn throttled() -> AwsError {
    AwsError {
        operation: "UpdateStage",
        code: "TooManyRequestsException".to_owned(),
        message: "Too Many Requests".to_owned(),
        retryable: true,
        retry_after: None,
    }
}

#[test]
fn applied_changes_make_the_guard_ready() {
    let status = build(&spec(), Some(3), &report(observed(), Ok(())), None, "t1");
    assert_eq!(
        conditions(&status),
        [
            ("Ready", "True", "Guarded"),
            ("Reconciling", "False", "Guarded"),
            ("Stalled", "False", "Guarded"),
            ("Tracing", "True", "Updated"),
            ("Alarms", "True", "Updated"),
        ]
    );
    assert!(
        status
            .conditions
            .iter()
            .all(|c| c.observed_generation == Some(3))
    );
    assert_eq!(status.observed_generation, Some(3));
    assert_eq!(status.alarms.len(), 3);
    assert_eq!(status.alarm_summary.as_deref(), Some("3 INSUFFICIENT_DATA"));
    assert_eq!(status.api_id.as_deref(), Some("id1"));
}

#[test]
fn a_retryable_failure_is_reconciling_not_stalled() {
    let status = build(
        &spec(),
        Some(1),
        &report(observed(), Err(throttled())),
        None,
        "t1",
    );
    assert_eq!(
        conditions(&status)[..3],
        [
            ("Ready", "False", "TooManyRequestsException"),
            ("Reconciling", "True", "TooManyRequestsException"),
            ("Stalled", "False", "Retrying"),
        ]
    );
    assert!(status.alarms.is_empty(), "no alarm was created");
    assert_eq!(status.alarm_summary, None);
    let ready = &status.conditions[0];
    assert!(ready.message.starts_with(
        "0/2 controls in sync; Tracing: UpdateStage failed: TooManyRequestsException"
    ));
}

#[test]
fn a_permanent_blocker_stalls_while_other_controls_stay_true() {
    let mut report = report(observed(), Ok(()));
    report.plan.blockers.push(Blocker {
        control: Control::Alarms,
        reason: "Conflict".to_owned(),
        message: "alarm x is owned by other/guard".to_owned(),
        retryable: false,
    });
    let status = build(&spec(), Some(1), &report, None, "t1");
    assert_eq!(
        conditions(&status),
        [
            ("Ready", "False", "Conflict"),
            ("Reconciling", "False", "Waiting"),
            ("Stalled", "True", "Conflict"),
            ("Tracing", "True", "Updated"),
            ("Alarms", "False", "Conflict"),
        ]
    );
}

#[test]
fn mixed_failures_are_both_stalled_and_reconciling() {
    let mut report = report(observed(), Err(throttled()));
    report.plan.blockers.push(Blocker {
        control: Control::Alarms,
        reason: "Conflict".to_owned(),
        message: "owned elsewhere".to_owned(),
        retryable: false,
    });
    let status = build(&spec(), None, &report, None, "t1");
    assert_eq!(
        conditions(&status)[..3],
        [
            ("Ready", "False", "TooManyRequestsException"),
            ("Reconciling", "True", "TooManyRequestsException"),
            ("Stalled", "True", "Conflict"),
        ]
    );
}

#[test]
fn an_unreadable_stage_stalls_with_the_aws_code_and_keeps_known_ids() {
    let report = Report {
        guard: guard(),
        observed: Err(ObserveError {
            what: "stage \"prod\" of REST API \"orders-api\" (id1)".to_owned(),
            source: AwsError::permanent(
                "GetStage",
                "NotFoundException",
                "Invalid stage identifier specified",
            ),
        }),
        plan: Plan::default(),
        outcomes: Vec::new(),
        metrics: None,
        objective: None,
        deployment: None,
        account_id: None,
    };
    let previous = ApiGatewayGuardStatus {
        api_id: Some("id1".to_owned()),
        ..Default::default()
    };
    let status = build(&spec(), Some(2), &report, Some(&previous), "t2");
    assert_eq!(
        conditions(&status),
        [
            ("Ready", "False", "NotFoundException"),
            ("Reconciling", "False", "NotFoundException"),
            ("Stalled", "True", "NotFoundException"),
        ]
    );
    assert!(status.conditions[0].message.contains("stage \"prod\""));
    assert!(
        status.conditions[0]
            .message
            .contains("GetStage failed: NotFoundException")
    );
    assert_eq!(status.api_id.as_deref(), Some("id1"));
}

#[test]
fn a_guard_refused_before_any_read_shows_the_api_its_spec_names() {
    let refused = Report::refused(
        &guard(),
        "AwsAccount acct".to_owned(),
        AwsError::check("Forbidden", "namespace ns may not use AwsAccount acct"),
    );
    let status = build(&spec(), Some(1), &refused, None, "t1");
    assert_eq!(conditions(&status)[2], ("Stalled", "True", "Forbidden"));
    // `kubectl get agg` reads the API column from here.
    assert_eq!(status.api_name.as_deref(), Some("orders-api"));
    assert_eq!(status.api_id, None, "nothing was resolved");
    // What AWS resolved before stays, whatever the spec says now.
    let previous = ApiGatewayGuardStatus {
        api_id: Some("id1".to_owned()),
        api_name: Some("orders-api-v1".to_owned()),
        ..Default::default()
    };
    let status = build(&spec(), Some(2), &refused, Some(&previous), "t2");
    assert_eq!(status.api_name.as_deref(), Some("orders-api-v1"));
}

#[test]
fn a_dry_run_reports_pending_changes() {
    let mut report = report(observed(), Ok(()));
    report.outcomes.clear();
    let status = build(&spec(), None, &report, None, "t1");
    assert_eq!(conditions(&status)[0], ("Ready", "False", "Pending"));
    assert_eq!(conditions(&status)[3], ("Tracing", "False", "Pending"));
    assert_eq!(conditions(&status)[1], ("Reconciling", "True", "Pending"));
}

#[test]
fn transition_time_is_kept_while_status_holds() {
    let first = build(&spec(), Some(1), &report(observed(), Ok(())), None, "t1");
    let mut synced = observed();
    synced.stage.tracing_enabled = Some(true);
    let second_report = report(synced, Ok(()));
    let second = build(&spec(), Some(1), &second_report, Some(&first), "t2");
    let ready = second
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.last_transition_time.as_deref(), Some("t1"));
    // Nothing a user can act on changed: the same status, so nothing to write.
    let third = build(&spec(), Some(1), &second_report, Some(&second), "t3");
    assert_eq!(third, second);
    let failed = build(
        &spec(),
        Some(1),
        &report(observed(), Err(throttled())),
        Some(&second),
        "t3",
    );
    let ready = failed
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.last_transition_time.as_deref(), Some("t3"));
}

#[test]
fn live_alarm_states_are_summarised_worst_first() {
    let mut synced = observed();
    synced.stage.tracing_enabled = Some(true);
    let names = guard().alarm_names();
    for (name, state) in names.iter().zip(["OK", "ALARM", "OK"]) {
        synced.alarms.push((
            ObservedAlarm {
                name: name.clone(),
                arn: format!("arn:{name}"),
                config: None,
                state: state.to_owned(),
            },
            Some(guard().tags()),
        ));
    }
    let status = build(&spec(), None, &report(synced, Ok(())), None, "t");
    assert_eq!(status.alarm_summary.as_deref(), Some("1 ALARM, 2 OK"));
    assert_eq!(status.alarms[1].metric, "Latency");
    assert_eq!(status.alarms[1].state, "ALARM");
}

#[test]
fn suspended_guard_reports_pending_work_without_stalling() {
    let mut spec = spec();
    spec.controls.suspend = true;
    let mut report = report(observed(), Ok(()));
    report.outcomes.clear();
    let status = build(&spec, None, &report, None, "t");
    assert_eq!(
        conditions(&status)[..3],
        [
            ("Ready", "False", "Suspended"),
            ("Reconciling", "False", "Suspended"),
            ("Stalled", "False", "Suspended"),
        ]
    );
    assert!(status.conditions[0].message.contains("4 change(s) pending"));
}

#[test]
fn live_figures_are_kept_to_three_significant_digits() {
    assert_eq!(significant(0.0), 0.0);
    assert_eq!(significant(7.0), 7.0);
    assert_eq!(significant(240.0), 240.0);
    assert_eq!(significant(1234.0), 1230.0);
    assert_eq!(significant(28_950.0), 29_000.0);
    assert_eq!(significant(0.4567), 0.457);
    let mut report = report(observed(), Ok(()));
    let traffic = |count: f64| StageMetrics {
        period: 300,
        count: Some(count),
        five_xx: Some(0.0),
        latency_p99: Some(120.4),
        ..Default::default()
    };
    report.metrics = Some(Ok(traffic(12_341.0)));
    let first = build(&spec(), Some(1), &report, None, "t1");
    report.metrics = Some(Ok(traffic(12_338.0)));
    let second = build(&spec(), Some(1), &report, Some(&first), "t2");
    assert_eq!(
        second, first,
        "a few requests more or less is no status write"
    );
    assert_eq!(second.verification.unwrap().requests, Some(12_300.0));
}

/// A guard with an objective whose alarms are all in AWS as wanted, tier 1 in `tier1`.
fn objective_report(tier1: &str, hour_errors: f64) -> (ApiGatewayGuardSpec, Report) {
    let spec: ApiGatewayGuardSpec = serde_yaml::from_str(
        "restApi: {name: orders-api}\nstage: prod\nalarms: {}\nslo: {availability: 99.9}\n",
    )
    .unwrap();
    let mut observed = observed();
    observed.alarms = crate::core::plan::alarm_slots(&guard(), &spec, &observed.api)
        .into_iter()
        .filter_map(|(_, name, desired)| {
            let state = match name.ends_with("_slo1") {
                true => tier1,
                false => "OK",
            };
            let alarm = ObservedAlarm {
                arn: format!("arn:aws:cloudwatch:us-east-1:1:alarm:{name}"),
                name,
                config: Some(desired?),
                state: state.to_owned(),
            };
            Some((alarm, None))
        })
        .collect();
    let report = Report {
        guard: guard(),
        plan: plan(&guard(), &spec, &observed),
        observed: Ok(observed),
        outcomes: Vec::new(),
        metrics: Some(Ok(StageMetrics {
            period: 300,
            count: Some(1000.0),
            five_xx: Some(1.0),
            ..Default::default()
        })),
        objective: Some(Ok(crate::core::model::ObjectiveMetrics {
            window_days: 30,
            errors: Some(500.0),
            requests: Some(1e6),
            hour_errors: Some(hour_errors),
            hour_requests: Some(1e4),
        })),
        deployment: None,
        account_id: None,
    };
    (spec, report)
}

fn verified_of(status: &ApiGatewayGuardStatus) -> &Condition {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == "Verified")
        .unwrap()
}

#[test]
fn an_objective_shows_its_tiers_budget_and_cost_and_decides_verified() {
    let (spec, report) = objective_report("ALARM", 30.0);
    assert!(report.plan.is_in_sync(), "{:?}", report.plan);
    let status = build(&spec, Some(1), &report, None, "now");
    let objective = status.objective.as_ref().unwrap();
    assert_eq!(
        objective.objective,
        "99.9 % of requests without a 5XX over 30 days"
    );
    assert_eq!(objective.budget_remaining_percent, Some(50.0));
    assert_eq!(objective.burn_rate_last_hour, Some(3.0));
    let tiers: Vec<(i32, &str, &str)> = objective
        .tiers
        .iter()
        .map(|t| (t.tier, t.rule.as_str(), t.state.as_str()))
        .collect();
    assert_eq!(
        tiers,
        [
            (1, "14.4x over 1h, confirmed over 5m", "ALARM"),
            (2, "6x over 6h, confirmed over 30m", "OK"),
            (3, "1x over 3d, confirmed over 6h", "OK"),
        ]
    );
    // The runbook's latency alarms and the tiers' composites; not the 5XX count alarm, nor
    // the metric alarms the composites name.
    let alarms: Vec<&str> = status.alarms.iter().map(|a| a.metric.as_str()).collect();
    assert_eq!(
        alarms,
        [
            "Latency",
            "IntegrationLatency",
            "error budget, tier 1",
            "error budget, tier 2",
            "error budget, tier 3"
        ]
    );
    assert_eq!(status.alarm_summary.as_deref(), Some("1 ALARM, 4 OK"));
    assert_eq!(
        status.monthly_cost.as_deref(),
        Some("$2.90 a month (11 alarm(s) $2.90, 0 dashboard(s) $0.00)")
    );
    let verified = verified_of(&status);
    assert_eq!(
        (verified.status.as_str(), verified.reason.as_str()),
        ("False", "BudgetBurning")
    );
    assert!(verified.message.contains("3.0x"), "{}", verified.message);
    // Within the budget: 1 error in 1,000 requests is the objective's 0.1 %, not a failure.
    let (spec, report) = objective_report("OK", 5.0);
    let status = build(&spec, Some(1), &report, None, "now");
    let verified = verified_of(&status);
    assert_eq!(
        (verified.status.as_str(), verified.reason.as_str()),
        ("True", "TargetsMet")
    );
    assert!(
        verified
            .message
            .contains("1 5XX (0.10 %, the objective allows 0.1"),
        "{}",
        verified.message
    );
}
