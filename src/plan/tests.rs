use super::*;
use crate::model::{
    AwsError, MANAGED_BY_TAG, MethodSettings, ObservedAlarm, StageSettings, UsagePlan,
};

fn guard() -> GuardId {
    GuardId {
        namespace: "payments".to_owned(),
        name: "orders-prod".to_owned(),
    }
}

fn spec(yaml: &str) -> ApiGatewayGuardSpec {
    serde_yaml::from_str(yaml).expect("test spec parses")
}

const FULL: &str = "
restApi: {name: orders-api}
stage: prod
tracing: {enabled: true}
executionLogging: {level: ERROR, dataTrace: false, detailedMetrics: true}
throttle: {usagePlan: {name: orders-standard}, rateLimit: 1000, burstLimit: 2000}
stageThrottle: {rateLimit: 5000, burstLimit: 2500}
alarms: {actions: ['arn:aws:sns:us-east-1:123456789012:oncall']}
";

/// A freshly deployed stage: nothing set, a usage plan serving it, the logging role present.
fn fresh() -> Observed {
    Observed {
        rest_api: RestApi {
            id: "a1b2c3".to_owned(),
            name: "orders-api".to_owned(),
        },
        stage: StageSettings {
            tracing_enabled: Some(false),
            all_methods: MethodSettings::default(),
        },
        usage_plan: Some(Ok(UsagePlan {
            id: "up1".to_owned(),
            rate_limit: None,
            burst_limit: None,
            api_stages: vec![("a1b2c3".to_owned(), "prod".to_owned())],
        })),
        cloudwatch_role_arn: Some("arn:aws:iam::123456789012:role/logs".to_owned()),
        alarms: Vec::new(),
    }
}

/// What AWS holds after `actions` succeed: a small in-memory AWS for idempotence checks.
fn applied(mut observed: Observed, actions: &[Action]) -> Observed {
    for action in actions {
        match action {
            Action::UpdateStage { changes, .. } => {
                for c in changes {
                    let m = &mut observed.stage.all_methods;
                    let v = c.op.value.clone();
                    match c.op.path.as_str() {
                        "/tracingEnabled" => observed.stage.tracing_enabled = Some(v == "true"),
                        "/*/*/logging/loglevel" => m.logging_level = Some(v),
                        "/*/*/logging/dataTrace" => m.data_trace = Some(v == "true"),
                        "/*/*/metrics/enabled" => m.metrics = Some(v == "true"),
                        "/*/*/throttling/rateLimit" => m.rate_limit = Some(v.parse().unwrap()),
                        "/*/*/throttling/burstLimit" => m.burst_limit = Some(v.parse().unwrap()),
                        other => panic!("unexpected stage path {other}"),
                    }
                }
            }
            Action::UpdateUsagePlan { changes, .. } => {
                let Some(Ok(plan)) = observed.usage_plan.as_mut() else {
                    panic!("usage plan update without a usage plan")
                };
                for c in changes {
                    match c.op.path.as_str() {
                        "/throttle/rateLimit" => {
                            plan.rate_limit = Some(c.op.value.parse().unwrap())
                        }
                        "/throttle/burstLimit" => {
                            plan.burst_limit = Some(c.op.value.parse().unwrap())
                        }
                        other => panic!("unexpected usage plan path {other}"),
                    }
                }
            }
            Action::PutAlarm { alarm, tags, .. } => {
                match observed
                    .alarms
                    .iter_mut()
                    .find(|(a, _)| a.name == alarm.name)
                {
                    // PutMetricAlarm ignores tags on update.
                    Some((existing, _)) => existing.config = Some((**alarm).clone()),
                    None => observed.alarms.push((
                        ObservedAlarm {
                            name: alarm.name.clone(),
                            arn: format!(
                                "arn:aws:cloudwatch:us-east-1:123456789012:alarm:{}",
                                alarm.name
                            ),
                            config: Some((**alarm).clone()),
                            state: "INSUFFICIENT_DATA".to_owned(),
                        },
                        tags.clone(),
                    )),
                }
            }
            Action::TagAlarm { name, tags, .. } => {
                let (_, existing) = observed
                    .alarms
                    .iter_mut()
                    .find(|(a, _)| &a.name == name)
                    .unwrap();
                existing.extend(tags.iter().cloned());
            }
            Action::DeleteAlarms { names } => {
                observed.alarms.retain(|(a, _)| !names.contains(&a.name))
            }
        }
    }
    observed
}

fn in_sync(spec: &ApiGatewayGuardSpec) -> Observed {
    let first = plan(&guard(), spec, &fresh());
    applied(fresh(), &first.actions)
}

fn paths(action: &Action) -> Vec<(&str, &str)> {
    match action {
        Action::UpdateStage { changes, .. } | Action::UpdateUsagePlan { changes, .. } => changes
            .iter()
            .map(|c| (c.op.path.as_str(), c.op.value.as_str()))
            .collect(),
        other => panic!("not a patch action: {other}"),
    }
}

#[test]
fn fresh_stage_gets_one_stage_update_one_plan_update_and_three_alarms() {
    let plan = plan(&guard(), &spec(FULL), &fresh());
    assert!(plan.blockers.is_empty(), "{:?}", plan.blockers);
    assert_eq!(plan.actions.len(), 5, "{:#?}", plan.actions);
    assert_eq!(
        paths(&plan.actions[0]),
        [
            ("/tracingEnabled", "true"),
            ("/*/*/logging/loglevel", "ERROR"),
            ("/*/*/metrics/enabled", "true"),
            ("/*/*/throttling/rateLimit", "5000"),
            ("/*/*/throttling/burstLimit", "2500"),
        ]
    );
    assert!(
        matches!(&plan.actions[0], Action::UpdateStage { rest_api_id, stage, .. } if rest_api_id == "a1b2c3" && stage == "prod")
    );
    // The usage plan last: one UpdateUsagePlan per 20 s per account must not hold up the rest.
    assert_eq!(
        paths(&plan.actions[4]),
        [
            ("/throttle/rateLimit", "1000"),
            ("/throttle/burstLimit", "2000")
        ]
    );
    assert!(
        matches!(&plan.actions[4], Action::UpdateUsagePlan { usage_plan_id, .. } if usage_plan_id == "up1")
    );
    let alarms: Vec<&AlarmConfig> = plan
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::PutAlarm { alarm, tags, diff } => {
                assert!(diff.is_empty(), "a new alarm has no diff");
                assert_eq!(tags, &guard().tags());
                Some(&**alarm)
            }
            _ => None,
        })
        .collect();
    let summary: Vec<(&str, &str, &str, f64)> = alarms
        .iter()
        .map(|a| {
            (
                a.name.as_str(),
                a.metric_name.as_str(),
                a.statistic.as_str(),
                a.threshold,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "apigw-guard-payments-orders-prod-5xx",
                "5XXError",
                "Sum",
                10.0
            ),
            (
                "apigw-guard-payments-orders-prod-latency",
                "Latency",
                "p99",
                1000.0
            ),
            (
                "apigw-guard-payments-orders-prod-integration-latency",
                "IntegrationLatency",
                "p99",
                500.0
            ),
        ]
    );
    for alarm in alarms {
        // The runbook's command has no dimensions and would never evaluate: these do.
        assert_eq!(
            alarm.dimensions,
            [
                ("ApiName".to_owned(), "orders-api".to_owned()),
                ("Stage".to_owned(), "prod".to_owned())
            ]
        );
        assert_eq!(alarm.namespace, "AWS/ApiGateway");
        assert_eq!(alarm.comparison, "GreaterThanThreshold");
        assert_eq!((alarm.period, alarm.evaluation_periods), (300, 1));
        assert_eq!(alarm.actions, ["arn:aws:sns:us-east-1:123456789012:oncall"]);
        assert_eq!(alarm.treat_missing_data, "notBreaching");
    }
}

#[test]
fn a_guard_in_sync_plans_nothing() {
    let spec = spec(FULL);
    let plan = plan(&guard(), &spec, &in_sync(&spec));
    assert!(plan.is_in_sync(), "{plan:#?}");
}

#[test]
fn absent_settings_that_equal_aws_defaults_are_not_written() {
    let spec = spec(
        "restApi: {id: a1b2c3}\nstage: prod\ntracing: {enabled: false}\n\
         executionLogging: {level: 'OFF', dataTrace: false, detailedMetrics: false}",
    );
    let mut observed = fresh();
    observed.stage.tracing_enabled = None;
    observed.cloudwatch_role_arn = None;
    let plan = plan(&guard(), &spec, &observed);
    assert!(plan.is_in_sync(), "{plan:#?}");
}

#[test]
fn a_changed_spec_updates_only_what_differs() {
    let old = spec(FULL);
    let new = spec(
        &FULL
            .replace(
                "alarms: {",
                "alarms: {fiveXXError: {threshold: 25, statistic: Sum}, ",
            )
            .replace("rateLimit: 5000", "rateLimit: 5000.5"),
    );
    let plan = plan(&guard(), &new, &in_sync(&old));
    assert_eq!(plan.actions.len(), 2, "{:#?}", plan.actions);
    assert_eq!(
        paths(&plan.actions[0]),
        [("/*/*/throttling/rateLimit", "5000.5")]
    );
    match &plan.actions[1] {
        Action::PutAlarm { alarm, diff, .. } => {
            assert_eq!(alarm.name, "apigw-guard-payments-orders-prod-5xx");
            assert_eq!(diff, &["threshold: 10 -> 25".to_owned()]);
        }
        other => panic!("expected an alarm update, got {other}"),
    }
    assert_eq!(
        plan.actions[1].to_string(),
        "put-metric-alarm apigw-guard-payments-orders-prod-5xx (update: threshold: 10 -> 25)"
    );
}

#[test]
fn drift_made_by_hand_is_put_back() {
    let spec = spec(FULL);
    let mut observed = in_sync(&spec);
    observed.stage.tracing_enabled = Some(false);
    observed.alarms[1]
        .0
        .config
        .as_mut()
        .unwrap()
        .actions_enabled = false;
    let plan = plan(&guard(), &spec, &observed);
    assert_eq!(paths(&plan.actions[0]), [("/tracingEnabled", "true")]);
    assert!(
        matches!(&plan.actions[1], Action::PutAlarm { diff, .. } if diff == &["actionsEnabled: false -> true".to_owned()])
    );
    assert_eq!(plan.actions.len(), 2);
}

#[test]
fn missing_logging_role_blocks_logging_but_not_metrics_or_other_controls() {
    let mut observed = fresh();
    observed.cloudwatch_role_arn = None;
    let plan = plan(&guard(), &spec(FULL), &observed);
    assert_eq!(plan.blockers.len(), 1);
    let blocker = &plan.blockers[0];
    assert_eq!(
        (blocker.control, blocker.reason.as_str()),
        (Control::ExecutionLogging, "CloudWatchRoleMissing")
    );
    assert!(
        blocker.message.contains("update-account"),
        "{}",
        blocker.message
    );
    let stage_paths: Vec<&str> = paths(&plan.actions[0])
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(
        stage_paths,
        [
            "/tracingEnabled",
            "/*/*/metrics/enabled",
            "/*/*/throttling/rateLimit",
            "/*/*/throttling/burstLimit"
        ]
    );
    assert_eq!(
        plan.actions.len(),
        5,
        "the usage plan and alarms still go ahead"
    );
}

#[test]
fn usage_plan_not_serving_the_stage_blocks_only_the_throttle() {
    let mut observed = fresh();
    if let Some(Ok(plan)) = observed.usage_plan.as_mut() {
        plan.api_stages = vec![("a1b2c3".to_owned(), "staging".to_owned())];
    }
    let plan = plan(&guard(), &spec(FULL), &observed);
    assert_eq!(plan.blockers.len(), 1);
    assert_eq!(plan.blockers[0].reason, "UsagePlanNotServingStage");
    assert!(
        plan.blockers[0]
            .message
            .contains("does not serve stage prod")
    );
    assert!(
        !plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::UpdateUsagePlan { .. }))
    );
    assert_eq!(plan.actions.len(), 4);
}

#[test]
fn usage_plan_lookup_failure_keeps_the_aws_code() {
    let mut observed = fresh();
    observed.usage_plan = Some(Err(AwsError::permanent(
        "GetUsagePlans",
        "NotFoundException",
        "no usage plan named \"orders-standard\"",
    )));
    let plan = plan(&guard(), &spec(FULL), &observed);
    assert_eq!(plan.blockers[0].control, Control::Throttle);
    assert_eq!(plan.blockers[0].reason, "NotFoundException");
    assert!(!plan.blockers[0].retryable);
}

#[test]
fn an_alarm_owned_by_someone_else_is_never_touched() {
    let spec = spec(FULL);
    let mut observed = in_sync(&spec);
    observed.alarms[0].1 = vec![(OWNER_TAG.to_owned(), "other/guard".to_owned())];
    observed.alarms[0].0.config.as_mut().unwrap().threshold = 99.0;
    observed.alarms[2].1.clear();
    let plan = plan(&guard(), &spec, &observed);
    assert!(plan.actions.is_empty(), "{:#?}", plan.actions);
    let messages: Vec<&str> = plan.blockers.iter().map(|b| b.message.as_str()).collect();
    assert_eq!(plan.blockers.len(), 2, "{messages:?}");
    assert!(plan.blockers.iter().all(|b| b.reason == "Conflict"));
    assert!(messages[0].contains("owned by other/guard"), "{messages:?}");
    assert!(
        messages[1].contains("no apigw-guard.dev/owner tag"),
        "{messages:?}"
    );
}

#[test]
fn disabled_or_dropped_alarms_are_deleted_when_owned() {
    let full = spec(FULL);
    let observed = in_sync(&full);
    let one_off = spec(&FULL.replace(
        "alarms: {",
        "alarms: {latency: {enabled: false, threshold: 1, statistic: p99}, ",
    ));
    let plan = plan(&guard(), &one_off, &observed);
    assert_eq!(
        plan.actions,
        [Action::DeleteAlarms {
            names: vec!["apigw-guard-payments-orders-prod-latency".to_owned()]
        }]
    );
    let mut none = full.clone();
    none.alarms = None;
    let plan = super::plan(&guard(), &none, &observed);
    assert_eq!(
        plan.actions,
        [Action::DeleteAlarms {
            names: guard().alarm_names()
        }]
    );
}

#[test]
fn an_owned_alarm_missing_a_tag_is_tagged_not_rewritten() {
    let spec = spec(FULL);
    let mut observed = in_sync(&spec);
    observed.alarms[0].1.retain(|(key, _)| key == OWNER_TAG);
    let plan = plan(&guard(), &spec, &observed);
    assert_eq!(
        plan.actions,
        [Action::TagAlarm {
            name: "apigw-guard-payments-orders-prod-5xx".to_owned(),
            arn: "arn:aws:cloudwatch:us-east-1:123456789012:alarm:apigw-guard-payments-orders-prod-5xx".to_owned(),
            tags: vec![(MANAGED_BY_TAG.to_owned(), "apigw-guard".to_owned())],
        }]
    );
}

#[test]
fn an_alarm_with_fields_missing_in_aws_is_rewritten() {
    let spec = spec(FULL);
    let mut observed = in_sync(&spec);
    observed.alarms[2].0.config = None;
    let plan = plan(&guard(), &spec, &observed);
    assert!(
        matches!(&plan.actions[..], [Action::PutAlarm { alarm, .. }] if alarm.metric_name == "IntegrationLatency"),
        "{:#?}",
        plan.actions
    );
}

#[test]
fn numbers_are_written_as_api_gateway_reads_them() {
    assert_eq!(number(1000.0), "1000");
    assert_eq!(number(0.5), "0.5");
    assert_eq!(number(1234.25), "1234.25");
}

#[test]
fn condition_of_a_shared_stage_update_lists_only_its_own_changes() {
    let plan = plan(&guard(), &spec(FULL), &fresh());
    assert_eq!(
        plan.actions[0].describe_for(Control::Tracing),
        "update-stage a1b2c3/prod: /tracingEnabled false -> true"
    );
    assert_eq!(
        plan.actions[0].controls(),
        [
            Control::Tracing,
            Control::ExecutionLogging,
            Control::StageThrottle
        ]
    );
}
