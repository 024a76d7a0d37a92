use super::*;
use crate::model::{
    AwsError, GuardId, GuardedApi, MethodSettings, Observed, ObservedAlarm, StageSettings,
};
use crate::plan::{Blocker, Plan, plan};
use crate::reconcile::{ObserveError, Outcome};

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
    GuardId {
        namespace: "ns".to_owned(),
        name: "g".to_owned(),
    }
}

fn observed() -> Observed {
    Observed {
        api: GuardedApi {
            kind: crate::model::ApiKind::Rest,
            id: "id1".to_owned(),
            name: "orders-api".to_owned(),
            tags: Default::default(),
        },
        stage: StageSettings {
            tracing_enabled: Some(false),
            all_methods: MethodSettings::default(),
            ..Default::default()
        },
        usage_plan: None,
        cloudwatch_role_arn: None,
        alarms: Vec::new(),
        region: "us-east-1".to_owned(),
        dashboard: None,
        log_group: None,
    }
}

/// A report whose actions all end with `result`.
fn report(observed: Observed, result: Result<(), AwsError>) -> Report {
    let plan = plan(&guard(), &spec(), &observed);
    let outcomes = plan
        .actions
        .iter()
        .map(|action| Outcome {
            action: action.clone(),
            result: result.clone(),
        })
        .collect();
    Report {
        guard: guard(),
        observed: Ok(observed),
        plan,
        outcomes,
        metrics: None,
        account_id: None,
    }
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
    spec.suspend = true;
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
