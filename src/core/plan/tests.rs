use super::*;
use crate::core::fixtures;
use crate::core::model::{
    AccessLog, AlarmKind, AwsError, LogGroup, MANAGED_BY_TAG, OWNER_TAG, ObservedAlarm,
    ObservedDashboard, ObservedLogGroup, UsagePlan,
};

fn guard() -> GuardId {
    fixtures::guard_id("payments", "orders-prod")
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
        usage_plan: Some(Ok(UsagePlan {
            id: "up1".to_owned(),
            rate_limit: None,
            burst_limit: None,
            api_stages: vec![("a1b2c3".to_owned(), "prod".to_owned())],
        })),
        cloudwatch_role_arn: Some("arn:aws:iam::123456789012:role/logs".to_owned()),
        ..fixtures::observed(ApiKind::Rest, "a1b2c3", "orders-api")
    }
}

/// What AWS holds after `actions` succeed: a small in-memory AWS for idempotence checks.
fn applied(mut observed: Observed, actions: &[Action]) -> Observed {
    for action in actions {
        match action {
            Action::UpdateStage { kind, changes, .. } => {
                assert_eq!(*kind, observed.api.kind, "the API's own service");
                for c in changes {
                    let stage = &mut observed.stage;
                    let v = c.op.value.clone();
                    let path = c.op.path.as_str();
                    // An HTTP API's route settings: `/routeSettings/<route key>/<field>`.
                    let (m, field) = match path.strip_prefix("/routeSettings/") {
                        Some(rest) => {
                            let (key, field) = rest.rsplit_once('/').unwrap();
                            let m = stage.routes.entry(key.to_owned()).or_default();
                            (m, format!("/defaultRouteSettings/{field}"))
                        }
                        None => (&mut stage.all_methods, path.to_owned()),
                    };
                    match (*kind, field.as_str()) {
                        (ApiKind::Rest, "/tracingEnabled") => {
                            stage.tracing_enabled = Some(v == "true")
                        }
                        // Execution logs: a REST API's method settings, a WebSocket API's
                        // route settings; an HTTP API has none.
                        (ApiKind::Rest, "/*/*/logging/loglevel")
                        | (ApiKind::WebSocket, "/defaultRouteSettings/loggingLevel") => {
                            m.logging_level = Some(v)
                        }
                        (ApiKind::Rest, "/*/*/logging/dataTrace")
                        | (ApiKind::WebSocket, "/defaultRouteSettings/dataTraceEnabled") => {
                            m.data_trace = Some(v == "true")
                        }
                        (ApiKind::Rest, "/*/*/metrics/enabled")
                        | (
                            ApiKind::Http | ApiKind::WebSocket,
                            "/defaultRouteSettings/detailedMetricsEnabled",
                        ) => m.metrics = Some(v == "true"),
                        (ApiKind::Rest, "/*/*/throttling/rateLimit")
                        | (
                            ApiKind::Http | ApiKind::WebSocket,
                            "/defaultRouteSettings/throttlingRateLimit",
                        ) => m.rate_limit = Some(v.parse().unwrap()),
                        (ApiKind::Rest, "/*/*/throttling/burstLimit")
                        | (
                            ApiKind::Http | ApiKind::WebSocket,
                            "/defaultRouteSettings/throttlingBurstLimit",
                        ) => m.burst_limit = Some(v.parse().unwrap()),
                        (_, "/accessLogSettings/destinationArn") => {
                            stage.access_log.get_or_insert_default().destination_arn = v
                        }
                        (_, "/accessLogSettings/format") => {
                            stage.access_log.get_or_insert_default().format = v
                        }
                        (ApiKind::Rest, "/accessLogSettings") => stage.access_log = None,
                        (kind, other) => panic!("unexpected {kind:?} stage path {other}"),
                    }
                }
            }
            Action::CreateLogGroup {
                name,
                retention_days,
                tags,
            } => {
                let Some(Ok(group)) = observed.log_group.as_mut() else {
                    panic!("log group made without reading it")
                };
                assert!(group.found.is_none(), "CreateLogGroup of an existing group");
                group.found = Some(LogGroup {
                    name: name.clone(),
                    retention_days: Some(*retention_days),
                    tags: Some(tags.clone()),
                });
            }
            Action::PutRetention { retention_days, .. } => {
                let Some(Ok(ObservedLogGroup {
                    found: Some(group), ..
                })) = observed.log_group.as_mut()
                else {
                    panic!("retention of a missing log group")
                };
                group.retention_days = Some(*retention_days);
            }
            Action::DisableAccessLogs { .. } => observed.stage.access_log = None,
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
                        Some(tags.clone()),
                    )),
                }
            }
            Action::TagAlarm { name, tags, .. } => {
                let (_, existing) = observed
                    .alarms
                    .iter_mut()
                    .find(|(a, _)| &a.name == name)
                    .unwrap();
                existing
                    .get_or_insert_default()
                    .extend(tags.iter().cloned());
            }
            Action::DeleteAlarms { names, .. } | Action::RetireAlarms { names } => {
                observed.alarms.retain(|(a, _)| !names.contains(&a.name))
            }
            Action::PutDashboard { body, .. } => {
                let Some(Ok(dashboard)) = observed.dashboard.as_mut() else {
                    panic!("dashboard written without reading it")
                };
                dashboard.body = Some(body.clone());
            }
            Action::DeleteDashboards { .. } => {
                let Some(Ok(dashboard)) = observed.dashboard.as_mut() else {
                    panic!("dashboard deleted without reading it")
                };
                dashboard.body = None;
                dashboard.legacy = None;
            }
            Action::RetireDashboard { .. } => {
                let Some(Ok(dashboard)) = observed.dashboard.as_mut() else {
                    panic!("dashboard renamed without reading it")
                };
                dashboard.legacy = None;
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

/// Every ApiName dimension the plan writes, in runbook alarms, objective queries and dashboard
/// widgets, for a REST API named `name` (id a1b2c3).
fn api_names_watched(name: &str) -> Vec<String> {
    let spec = spec(
        "restApi: {name: x}\nstage: prod\nalarms: {}\ndashboard: {}\nslo: {availability: 99.9}\n",
    );
    let mut observed = fresh();
    observed.api.name = name.to_owned();
    let plan = plan(&guard(), &spec, &observed);
    let mut names = Vec::new();
    let watch = |names: &mut Vec<String>, stat: &crate::core::model::MetricStat| {
        names.extend(
            stat.dimensions
                .iter()
                .filter(|(dimension, _)| dimension == "ApiName")
                .map(|(_, value)| value.clone()),
        )
    };
    for action in &plan.actions {
        match action {
            Action::PutAlarm { alarm, .. } => {
                if let crate::core::model::AlarmRule::Threshold(threshold) = &alarm.rule {
                    match &threshold.metric {
                        crate::core::model::AlarmMetric::Stat(stat) => watch(&mut names, stat),
                        crate::core::model::AlarmMetric::Math(queries) => {
                            for query in queries {
                                if let crate::core::model::Query::Stat(stat) = &query.query {
                                    watch(&mut names, stat)
                                }
                            }
                        }
                    }
                }
            }
            Action::PutDashboard { body, .. } => {
                // A widget's metric: [namespace, metric, "ApiName", value, "Stage", stage, ...].
                let body: serde_json::Value = serde_json::from_str(body).unwrap();
                let text = body.to_string();
                for part in text.split("\"ApiName\",\"").skip(1) {
                    names.push(part.split('"').next().unwrap().to_owned());
                }
            }
            _ => {}
        }
    }
    assert!(names.len() > 10, "{names:?}");
    names.sort();
    names.dedup();
    names
}

#[test]
fn alarm_descriptions_stay_within_cloudwatchs_limit_whatever_the_api_name() {
    // A 1,000-character name (a guard's restApi.name may be 1,024), four tiers and a latency
    // objective: the longest descriptions the operator composes.
    let spec = spec(
        "restApi: {name: x}\nstage: prod\nalarms: {}\nslo:\n  availability: 99.9\n  latency: \
         {thresholdMs: 1000, objective: 99}\n  countAlarm: true\n  tiers:\n  - {burnRate: 14.4, \
         longWindowMinutes: 60, shortWindowMinutes: 5}\n  - {burnRate: 6, longWindowMinutes: 360, \
         shortWindowMinutes: 30}\n  - {burnRate: 3, longWindowMinutes: 1440, shortWindowMinutes: \
         120}\n  - {burnRate: 1, longWindowMinutes: 4320, shortWindowMinutes: 360}\n",
    );
    let mut observed = fresh();
    observed.api.name = "n".repeat(1000);
    let plan = plan(&guard(), &spec, &observed);
    let descriptions: Vec<&str> = plan
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::PutAlarm { alarm, .. } => Some(alarm.description.as_str()),
            _ => None,
        })
        .collect();
    assert!(descriptions.len() > 20, "{}", descriptions.len());
    for description in descriptions {
        let length = description.chars().count();
        assert!(length <= 1024, "{length}: {description}");
        // What a person paging needs is still there: the stage and the guard.
        assert!(description.contains("/prod"), "{description}");
        assert!(
            description.contains("payments/orders-prod"),
            "{description}"
        );
    }
    assert_eq!(
        crate::core::model::alarm_description("é".repeat(2000))
            .chars()
            .count(),
        1024
    );
}

#[test]
fn alarms_queries_and_widgets_watch_the_api_name_api_gateway_publishes() {
    // ASCII: as written. Non-ASCII characters: removed, as API Gateway publishes the
    // dimension. Nothing left: the API's id.
    assert_eq!(api_names_watched("orders-api"), ["orders-api"]);
    assert_eq!(api_names_watched("zahlungs-api-grün"), ["zahlungs-api-grn"]);
    assert_eq!(api_names_watched("支付接口"), ["a1b2c3"]);
    let mut api = fresh().api;
    api.name = "支付接口".to_owned();
    assert_eq!(api.metric_stage("prod").api, "a1b2c3");
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
        matches!(&plan.actions[0], Action::UpdateStage { api_id, stage, .. } if api_id == "a1b2c3" && stage == "prod")
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
            Action::PutAlarm {
                alarm, tags, diff, ..
            } => {
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
                a.stat().unwrap().metric_name.as_str(),
                a.stat().unwrap().statistic.as_str(),
                a.threshold().unwrap().threshold,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "apigw-guard-payments_orders-prod_5xx",
                "5XXError",
                "Sum",
                10.0
            ),
            (
                "apigw-guard-payments_orders-prod_latency",
                "Latency",
                "p99",
                1000.0
            ),
            (
                "apigw-guard-payments_orders-prod_integration-latency",
                "IntegrationLatency",
                "p99",
                500.0
            ),
        ]
    );
    for alarm in alarms {
        // The runbook's command has no dimensions and would never evaluate: these do.
        assert_eq!(
            alarm.stat().unwrap().dimensions,
            [
                ("ApiName".to_owned(), "orders-api".to_owned()),
                ("Stage".to_owned(), "prod".to_owned())
            ]
        );
        assert_eq!(alarm.stat().unwrap().namespace, "AWS/ApiGateway");
        assert_eq!(
            alarm.threshold().unwrap().comparison,
            "GreaterThanThreshold"
        );
        assert_eq!(
            (
                alarm.stat().unwrap().period,
                alarm.threshold().unwrap().evaluation_periods
            ),
            (300, 1)
        );
        assert_eq!(alarm.actions, ["arn:aws:sns:us-east-1:123456789012:oncall"]);
        assert_eq!(
            alarm.threshold().unwrap().treat_missing_data,
            "notBreaching"
        );
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
            assert_eq!(alarm.name, "apigw-guard-payments_orders-prod_5xx");
            assert_eq!(diff, &["threshold: 10 -> 25".to_owned()]);
        }
        other => panic!("expected an alarm update, got {other}"),
    }
    assert_eq!(
        plan.actions[1].to_string(),
        "put-metric-alarm apigw-guard-payments_orders-prod_5xx (update: threshold: 10 -> 25)"
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
    observed.alarms[0].1 = Some(vec![(OWNER_TAG.to_owned(), "other/guard".to_owned())]);
    match &mut observed.alarms[0].0.config.as_mut().unwrap().rule {
        AlarmRule::Threshold(threshold) => threshold.threshold = 99.0,
        AlarmRule::Composite { .. } => unreachable!("the runbook's alarms are metric alarms"),
    }
    observed.alarms[2].1 = Some(Vec::new());
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
            control: Control::Alarms,
            names: vec!["apigw-guard-payments_orders-prod_latency".to_owned()]
        }]
    );
    let mut none = full.clone();
    none.controls.alarms = None;
    let plan = super::plan(&guard(), &none, &observed);
    assert_eq!(
        plan.actions,
        [Action::DeleteAlarms {
            control: Control::Alarms,
            names: guard().alarm_names()
        }]
    );
}

#[test]
fn an_owned_alarm_missing_a_tag_is_tagged_not_rewritten() {
    let spec = spec(FULL);
    let mut observed = in_sync(&spec);
    observed.alarms[0]
        .1
        .as_mut()
        .unwrap()
        .retain(|(key, _)| key == OWNER_TAG);
    let plan = plan(&guard(), &spec, &observed);
    assert_eq!(
        plan.actions,
        [Action::TagAlarm {
            control: Control::Alarms,
            name: "apigw-guard-payments_orders-prod_5xx".to_owned(),
            arn: "arn:aws:cloudwatch:us-east-1:123456789012:alarm:apigw-guard-payments_orders-prod_5xx".to_owned(),
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
        matches!(&plan.actions[..], [Action::PutAlarm { alarm, .. }] if alarm.stat().unwrap().metric_name == "IntegrationLatency"),
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

/// The guard's stage, for specs that manage only what a test is about.
const STAGE: &str = "restApi: {name: orders-api}\nstage: prod\n";

/// `fresh()` with the dashboard as observe reads it: `body` (none when absent) in account 1.
fn with_dashboard(body: Option<String>) -> Observed {
    Observed {
        dashboard: Some(Ok(ObservedDashboard {
            body,
            account_id: Some("123456789012".to_owned()),
            legacy: None,
        })),
        ..fresh()
    }
}

fn dashboard_actions(plan: &Plan) -> Vec<&Action> {
    plan.actions
        .iter()
        .filter(|a| a.controls() == [Control::Dashboard])
        .collect()
}

#[test]
fn a_dashboard_is_created_after_the_alarms_and_before_the_usage_plan_then_kept() {
    let spec = spec(&format!("{FULL}dashboard: {{}}\n"));
    let first = plan(&guard(), &spec, &with_dashboard(None));
    let kinds: Vec<String> = first
        .actions
        .iter()
        .map(|a| a.to_string().split(' ').next().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        [
            "update-stage",
            "put-metric-alarm",
            "put-metric-alarm",
            "put-metric-alarm",
            "put-dashboard",
            "update-usage-plan"
        ]
    );
    assert_eq!(
        first.actions[4].to_string(),
        "put-dashboard apigw-guard-payments_orders-prod (create)"
    );
    let Action::PutDashboard { body, .. } = &first.actions[4] else {
        unreachable!()
    };
    assert_eq!(
        crate::core::dashboard::owner(body).as_deref(),
        Some("payments/orders-prod"),
        "the body carries the marker"
    );
    let in_sync = applied(with_dashboard(None), &first.actions);
    assert!(plan(&guard(), &spec, &in_sync).is_in_sync());
}

#[test]
fn a_dashboard_edited_by_hand_is_put_back_and_a_reformatted_one_is_not() {
    let spec = spec(&format!("{STAGE}dashboard: {{}}\n"));
    let want = plan(&guard(), &spec, &with_dashboard(None));
    let Action::PutDashboard { body, .. } = &want.actions[0] else {
        panic!("{want:?}")
    };
    let value: serde_json::Value = serde_json::from_str(body).unwrap();
    let pretty = serde_json::to_string_pretty(&value).unwrap();
    assert!(plan(&guard(), &spec, &with_dashboard(Some(pretty))).is_in_sync());

    let mut edited = value.clone();
    edited["widgets"][3]["properties"]["title"] = "mine now".into();
    let drifted = plan(&guard(), &spec, &with_dashboard(Some(edited.to_string())));
    assert_eq!(
        dashboard_actions(&drifted)
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>(),
        ["put-dashboard apigw-guard-payments_orders-prod (update: IntegrationLatency (p99))"]
    );
}

#[test]
fn a_dashboard_of_the_name_without_this_guards_marker_is_never_written() {
    let spec = spec(&format!("{STAGE}dashboard: {{}}\n"));
    for (body, says) in [
        (r#"{"widgets": []}"#.to_owned(), "is not marked"),
        (
            serde_json::json!({"widgets": [{"type": "text", "properties": {
                "markdown": "apigw-guard.dev/owner=other/guard"}}]})
            .to_string(),
            "is kept by guard other/guard",
        ),
    ] {
        let plan = plan(&guard(), &spec, &with_dashboard(Some(body.clone())));
        assert!(dashboard_actions(&plan).is_empty(), "{plan:?}");
        assert_eq!(plan.blockers.len(), 1);
        assert_eq!(plan.blockers[0].control, Control::Dashboard);
        assert_eq!(plan.blockers[0].reason, "Conflict");
        assert!(!plan.blockers[0].retryable);
        assert!(plan.blockers[0].message.contains(says), "{plan:?}");
        // Disabling the dashboard does not delete somebody else's either.
        let disabled = plan_of("dashboard: {enabled: false}\n", &Some(body));
        assert!(disabled.is_in_sync(), "{disabled:?}");
    }
}

fn plan_of(yaml: &str, body: &Option<String>) -> Plan {
    plan(
        &guard(),
        &spec(&format!("{STAGE}{yaml}")),
        &with_dashboard(body.clone()),
    )
}

#[test]
fn disabling_the_dashboard_deletes_it_only_when_it_is_this_guards() {
    let ours = plan(
        &guard(),
        &spec(&format!("{STAGE}dashboard: {{}}\n")),
        &with_dashboard(None),
    );
    let Action::PutDashboard { body, .. } = &ours.actions[0] else {
        panic!("{ours:?}")
    };
    let disabled = plan_of("dashboard: {enabled: false}\n", &Some(body.clone()));
    assert_eq!(
        disabled.actions,
        [Action::DeleteDashboards {
            names: vec!["apigw-guard-payments_orders-prod".to_owned()]
        }]
    );
    assert!(plan_of("dashboard: {enabled: false}\n", &None).is_in_sync());
    // Without the section the dashboard is not the guard's business.
    let unmanaged = Observed {
        dashboard: None,
        ..fresh()
    };
    assert!(plan(&guard(), &spec(STAGE), &unmanaged).is_in_sync());
}

#[test]
fn a_failed_dashboard_read_blocks_only_the_dashboard_with_the_aws_code() {
    let observed = Observed {
        dashboard: Some(Err(AwsError::permanent(
            "GetDashboard",
            "AccessDenied",
            "not allowed",
        ))),
        ..fresh()
    };
    let plan = plan(
        &guard(),
        &spec(&format!("{STAGE}tracing: {{}}\ndashboard: {{}}\n")),
        &observed,
    );
    assert_eq!(plan.actions.len(), 1, "tracing still goes ahead");
    assert_eq!(plan.blockers.len(), 1);
    assert_eq!(plan.blockers[0].control, Control::Dashboard);
    assert_eq!(plan.blockers[0].reason, "AccessDenied");
}

#[test]
fn an_alarm_override_changes_only_what_it_names() {
    let partial = spec(&format!(
        "{STAGE}alarms: {{fiveXXError: {{threshold: 5}}, latency: {{enabled: false}}, \
         integrationLatency: {{evaluationPeriods: 3}}}}\n"
    ));
    let plan = plan(&guard(), &partial, &fresh());
    let alarms: Vec<&AlarmConfig> = plan
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::PutAlarm { alarm, .. } => Some(&**alarm),
            _ => None,
        })
        .collect();
    let summary: Vec<(&str, &str, f64, i32, i32)> = alarms
        .iter()
        .map(|a| {
            (
                a.stat().unwrap().metric_name.as_str(),
                a.stat().unwrap().statistic.as_str(),
                a.threshold().unwrap().threshold,
                a.stat().unwrap().period,
                a.threshold().unwrap().evaluation_periods,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("5XXError", "Sum", 5.0, 300, 1),
            ("IntegrationLatency", "p99", 500.0, 300, 3),
        ],
        "the latency alarm is off; the others keep every default they do not override"
    );
}

/// The guard's alarms as the first naming called them, with the tags `owner` gave them.
fn under_first_names(observed: &Observed, owner: &str) -> Vec<(ObservedAlarm, Option<Vec<Tag>>)> {
    observed
        .alarms
        .iter()
        .zip(guard().legacy_alarm_names())
        .map(|((alarm, _), name)| {
            let mut alarm = alarm.clone();
            alarm.name = name.clone();
            alarm.arn = format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}");
            if let Some(config) = alarm.config.as_mut() {
                config.name = name;
            }
            let tags = vec![
                (OWNER_TAG.to_owned(), owner.to_owned()),
                (MANAGED_BY_TAG.to_owned(), "apigw-guard".to_owned()),
            ];
            (alarm, Some(tags))
        })
        .collect()
}

#[test]
fn owned_alarms_under_their_first_names_are_renamed_in_one_plan_others_are_left_alone() {
    let spec = spec(FULL);
    let synced = in_sync(&spec);
    let mut observed = synced.clone();
    observed.alarms = under_first_names(&synced, "payments/orders-prod");
    let plan = plan(&guard(), &spec, &observed);
    let writes: Vec<String> = plan
        .actions
        .iter()
        .filter(|a| a.controls() == [Control::Alarms])
        .map(ToString::to_string)
        .collect();
    assert_eq!(writes.len(), 4, "{writes:#?}");
    assert!(
        writes[..3].iter().all(|w| w.contains("(create:")),
        "{writes:#?}"
    );
    assert_eq!(
        plan.actions
            .iter()
            .filter(|a| matches!(a, Action::RetireAlarms { .. }))
            .count(),
        1
    );
    assert_eq!(
        writes[3],
        format!(
            "delete-alarms {} (renamed)",
            guard().legacy_alarm_names().join(" ")
        ),
        "the old names go after the new ones are written"
    );
    let renamed = applied(observed, &plan.actions);
    assert!(super::plan(&guard(), &spec, &renamed).is_in_sync());
    let names: Vec<&str> = renamed
        .alarms
        .iter()
        .map(|(a, _)| a.name.as_str())
        .collect();
    assert_eq!(names, guard().alarm_names());

    // `payments-orders/prod`'s first names were the same; alarms tagged as its are not this
    // guard's to rename, and not a conflict either: they are no name of this guard's now.
    let mut theirs = synced;
    theirs.alarms = under_first_names(&theirs, "payments-orders/prod");
    let plan = super::plan(&guard(), &spec, &theirs);
    assert!(plan.blockers.is_empty(), "{:?}", plan.blockers);
    assert!(
        plan.actions
            .iter()
            .all(|a| !matches!(a, Action::RetireAlarms { .. }))
    );
    assert_eq!(
        plan.actions
            .iter()
            .filter(|a| matches!(a, Action::PutAlarm { .. }))
            .count(),
        3
    );
}

#[test]
fn a_dashboard_under_its_first_name_is_written_anew_then_deleted() {
    let spec = spec(&format!("{STAGE}dashboard: {{}}\n"));
    let mut observed = with_dashboard(None);
    if let Some(Ok(dashboard)) = observed.dashboard.as_mut() {
        dashboard.legacy = Some(guard().legacy_dashboard_name());
    }
    let plan = plan(&guard(), &spec, &observed);
    let steps: Vec<String> = dashboard_actions(&plan)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        steps,
        [
            "put-dashboard apigw-guard-payments_orders-prod (create)".to_owned(),
            "delete-dashboards apigw-guard-payments-orders-prod (renamed)".to_owned(),
        ]
    );
    let renamed = applied(observed, &plan.actions);
    assert!(super::plan(&guard(), &spec, &renamed).is_in_sync());
}

/// A fresh HTTP API stage: nothing set, no usage plans (HTTP APIs have none), no logging role
/// (an HTTP API needs none).
fn fresh_http() -> Observed {
    fixtures::observed(ApiKind::Http, "h1", "orders-http")
}

fn with_log_group(mut observed: Observed, found: Option<LogGroup>) -> Observed {
    observed.log_group = Some(Ok(ObservedLogGroup {
        arn:
            "arn:aws:logs:us-east-1:123456789012:log-group:/aws/apigateway/apigw-guard/h1/_default"
                .to_owned(),
        found,
    }));
    observed
}

const HTTP: &str = "
httpApi: {name: orders-http}
stage: $default
detailedMetrics: true
stageThrottle:
  rateLimit: 100
  burstLimit: 50
  routes: {'GET /orders': {rateLimit: 10, burstLimit: 5}}
alarms: {}
";

#[test]
fn an_http_api_stage_gets_its_metrics_and_throttles_in_one_update_and_alarms_in_v2_names() {
    let spec = spec(HTTP);
    let plan = plan(&guard(), &spec, &fresh_http());
    assert!(plan.blockers.is_empty(), "{:?}", plan.blockers);
    assert!(
        matches!(&plan.actions[0], Action::UpdateStage { kind: ApiKind::Http, api_id, stage, .. } if api_id == "h1" && stage == "$default")
    );
    assert_eq!(
        paths(&plan.actions[0]),
        [
            ("/defaultRouteSettings/detailedMetricsEnabled", "true"),
            // A route's own settings stand in for the defaults: its metrics too.
            ("/routeSettings/GET /orders/detailedMetricsEnabled", "true"),
            ("/defaultRouteSettings/throttlingRateLimit", "100"),
            ("/defaultRouteSettings/throttlingBurstLimit", "50"),
            ("/routeSettings/GET /orders/throttlingRateLimit", "10"),
            ("/routeSettings/GET /orders/throttlingBurstLimit", "5"),
        ]
    );
    let alarms: Vec<(&str, &[(String, String)])> = plan
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::PutAlarm { alarm, .. } => Some((
                alarm.stat().unwrap().metric_name.as_str(),
                alarm.stat().unwrap().dimensions.as_slice(),
            )),
            _ => None,
        })
        .collect();
    let dimensions = [
        ("ApiId".to_owned(), "h1".to_owned()),
        ("Stage".to_owned(), "$default".to_owned()),
    ];
    assert_eq!(
        alarms,
        [
            ("5xx", &dimensions[..]),
            ("Latency", &dimensions[..]),
            ("IntegrationLatency", &dimensions[..]),
        ]
    );
    assert_eq!(plan.actions.len(), 4, "{:#?}", plan.actions);
    let synced = applied(fresh_http(), &plan.actions);
    assert!(crate::core::plan::plan(&guard(), &spec, &synced).is_in_sync());
}

#[test]
fn a_route_throttle_changed_by_hand_is_put_back_alone() {
    let spec = spec(HTTP);
    let mut observed = applied(fresh_http(), &plan(&guard(), &spec, &fresh_http()).actions);
    observed
        .stage
        .routes
        .get_mut("GET /orders")
        .unwrap()
        .rate_limit = Some(9999.0);
    let plan = plan(&guard(), &spec, &observed);
    assert_eq!(plan.actions.len(), 1, "{:#?}", plan.actions);
    assert_eq!(
        paths(&plan.actions[0]),
        [("/routeSettings/GET /orders/throttlingRateLimit", "10")]
    );
    assert_eq!(
        plan.actions[0].to_string(),
        "update-stage h1/$default: /routeSettings/GET /orders/throttlingRateLimit 9999 -> 10"
    );
}

#[test]
fn a_route_the_api_does_not_have_costs_only_its_own_throttle() {
    let spec = spec(
        "httpApi: {name: orders-http}\nstage: $default\ndetailedMetrics: true\nstageThrottle:\n  \
         rateLimit: 100\n  burstLimit: 50\n  routes: {'GET /orders': {rateLimit: 10, burstLimit: \
         5}, 'GET /oders': {rateLimit: 1, burstLimit: 1}}\nalarms: {}\n",
    );
    let mut observed = fresh_http();
    observed.route_keys = Some(Ok(vec!["GET /orders".to_owned(), "$default".to_owned()]));
    let plan = plan(&guard(), &spec, &observed);
    // Everything else in the one UpdateStage; the typo's throttle left out and reported.
    let written: Vec<&str> = paths(&plan.actions[0])
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert!(
        written.contains(&"/defaultRouteSettings/throttlingRateLimit"),
        "{written:?}"
    );
    assert!(
        written.contains(&"/defaultRouteSettings/detailedMetricsEnabled"),
        "{written:?}"
    );
    assert!(
        written.contains(&"/routeSettings/GET /orders/throttlingRateLimit"),
        "{written:?}"
    );
    assert!(
        !written.iter().any(|p| p.contains("GET /oders")),
        "{written:?}"
    );
    assert_eq!(plan.blockers.len(), 1, "{:?}", plan.blockers);
    let blocker = &plan.blockers[0];
    assert_eq!(
        (blocker.control, blocker.reason.as_str()),
        (Control::StageThrottle, "UnknownRoute")
    );
    assert!(
        blocker.message.starts_with(
            "stageThrottle.routes names route(s) GET /oders that API h1 does not have (its routes: \
             $default, GET /orders)"
        ),
        "{}",
        blocker.message
    );
    // Applied, the rest is in sync; only the unknown route is left, written nowhere.
    let mut synced = applied(observed.clone(), &plan.actions);
    synced.route_keys = observed.route_keys.clone();
    let again = crate::core::plan::plan(&guard(), &spec, &synced);
    assert!(again.actions.is_empty(), "{:#?}", again.actions);
    assert_eq!(again.blockers, plan.blockers);
    // Routes that could not be read: no route throttle is written, the rest still is.
    let throttled = AwsError::service(
        "GetRoutes",
        429,
        "TooManyRequestsException".to_owned(),
        "slow down".to_owned(),
        None,
    );
    observed.route_keys = Some(Err(throttled));
    let unread = crate::core::plan::plan(&guard(), &spec, &observed);
    let written: Vec<&str> = paths(&unread.actions[0])
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert!(
        !written.iter().any(|p| p.starts_with("/routeSettings")),
        "{written:?}"
    );
    assert!(
        written.contains(&"/defaultRouteSettings/throttlingRateLimit"),
        "{written:?}"
    );
    assert!(unread.blockers[0].retryable);
}

#[test]
fn access_logs_make_the_log_group_before_the_stage_points_at_it() {
    let spec = spec("httpApi: {id: h1}\nstage: $default\naccessLogging: {}\n");
    let observed = with_log_group(fresh_http(), None);
    let plan = plan(&guard(), &spec, &observed);
    assert!(plan.blockers.is_empty(), "{:?}", plan.blockers);
    assert_eq!(plan.actions.len(), 2, "{:#?}", plan.actions);
    assert_eq!(
        plan.actions[0],
        Action::CreateLogGroup {
            name: "/aws/apigateway/apigw-guard/h1/_default".to_owned(),
            retention_days: 30,
            tags: guard().tags(),
        }
    );
    let stage = paths(&plan.actions[1]);
    assert_eq!(
        stage[0],
        (
            "/accessLogSettings/destinationArn",
            "arn:aws:logs:us-east-1:123456789012:log-group:/aws/apigateway/apigw-guard/h1/_default"
        )
    );
    let format: serde_json::Value = serde_json::from_str(stage[1].1).expect("a JSON line");
    for (field, variable) in [
        ("requestId", "$context.requestId"),
        ("status", "$context.status"),
        (
            "integrationErrorMessage",
            "$context.integrationErrorMessage",
        ),
        ("integrationStatus", "$context.integration.status"),
        ("integrationLatency", "$context.integration.latency"),
        ("responseLatency", "$context.responseLatency"),
    ] {
        assert_eq!(format[field], variable, "{format}");
    }
    let synced = applied(observed, &plan.actions);
    assert!(crate::core::plan::plan(&guard(), &spec, &synced).is_in_sync());
    // A retention changed in the spec is one PutRetentionPolicy on the guard's own group.
    let longer =
        self::spec("httpApi: {id: h1}\nstage: $default\naccessLogging: {retentionDays: 90}\n");
    let plan = crate::core::plan::plan(&guard(), &longer, &synced);
    assert_eq!(
        plan.actions,
        [Action::PutRetention {
            name: "/aws/apigateway/apigw-guard/h1/_default".to_owned(),
            retention_days: 90,
            from: Some(30),
        }]
    );
}

#[test]
fn a_log_group_someone_else_made_is_written_to_and_never_changed() {
    let spec = spec("httpApi: {id: h1}\nstage: $default\naccessLogging: {retentionDays: 90}\n");
    let theirs = LogGroup {
        name: "/aws/apigateway/apigw-guard/h1/_default".to_owned(),
        retention_days: Some(7),
        tags: Some(vec![("team".to_owned(), "platform".to_owned())]),
    };
    let plan = plan(&guard(), &spec, &with_log_group(fresh_http(), Some(theirs)));
    assert_eq!(plan.actions.len(), 1, "{:#?}", plan.actions);
    assert!(
        matches!(&plan.actions[0], Action::UpdateStage { changes, .. } if changes.iter().all(|c| c.control == Control::AccessLogging))
    );
}

#[test]
fn a_rest_apis_access_logs_need_the_accounts_logging_role_and_block_only_themselves() {
    let spec = spec(
        "restApi: {name: orders-api}\nstage: prod\naccessLogging: {}\nstageThrottle: {rateLimit: 5, burstLimit: 5}\n",
    );
    let mut observed = with_log_group(fresh(), None);
    observed.cloudwatch_role_arn = None;
    let plan = plan(&guard(), &spec, &observed);
    assert_eq!(plan.blockers.len(), 1, "{:?}", plan.blockers);
    assert_eq!(plan.blockers[0].control, Control::AccessLogging);
    assert_eq!(plan.blockers[0].reason, "CloudWatchRoleMissing");
    assert_eq!(
        paths(&plan.actions[0]),
        [
            ("/*/*/throttling/rateLimit", "5"),
            ("/*/*/throttling/burstLimit", "5")
        ]
    );
    // With the role: REST's own $context variables.
    observed.cloudwatch_role_arn = Some("arn:aws:iam::123456789012:role/logs".to_owned());
    let plan = crate::core::plan::plan(&guard(), &spec, &observed);
    assert!(plan.blockers.is_empty(), "{:?}", plan.blockers);
    let format = paths(&plan.actions[1])
        .into_iter()
        .find(|(path, _)| *path == "/accessLogSettings/format")
        .expect("the format is set")
        .1
        .to_owned();
    assert!(
        format.contains("\"integrationError\":\"$context.integration.error\""),
        "{format}"
    );
    assert!(format.contains("$context.requestId"), "{format}");
}

#[test]
fn access_logs_switched_off_are_removed_from_the_stage_only_when_on() {
    let spec = spec("httpApi: {id: h1}\nstage: $default\naccessLogging: {enabled: false}\n");
    let mut observed = fresh_http();
    assert!(plan(&guard(), &spec, &observed).is_in_sync());
    observed.stage.access_log = Some(AccessLog {
        destination_arn: "arn:aws:logs:us-east-1:123456789012:log-group:x".to_owned(),
        format: "$context.requestId".to_owned(),
    });
    assert_eq!(
        plan(&guard(), &spec, &observed).actions,
        [Action::DisableAccessLogs {
            api_id: "h1".to_owned(),
            stage: "$default".to_owned(),
        }]
    );
}

#[test]
fn a_rest_stages_access_logs_go_off_in_its_one_update_stage() {
    let spec = spec(
        "restApi: {name: orders-api}\nstage: prod\ntracing: {enabled: true}\naccessLogging: \
         {enabled: false}\n",
    );
    let mut observed = fresh();
    observed.stage.access_log = Some(AccessLog {
        destination_arn: "arn:aws:logs:us-east-1:123456789012:log-group:x".to_owned(),
        format: "$context.requestId".to_owned(),
    });
    let plan = plan(&guard(), &spec, &observed);
    assert_eq!(plan.actions.len(), 1, "{:#?}", plan.actions);
    assert_eq!(
        plan.actions[0].to_string(),
        "update-stage a1b2c3/prod: /tracingEnabled false -> true, /accessLogSettings \
         arn:aws:logs:us-east-1:123456789012:log-group:x -> (removed)"
    );
    let Action::UpdateStage { changes, .. } = &plan.actions[0] else {
        panic!("{:?}", plan.actions[0])
    };
    assert!(changes[1].op.remove);
    let synced = applied(observed, &plan.actions);
    assert!(crate::core::plan::plan(&guard(), &spec, &synced).is_in_sync());
}

#[test]
fn a_failed_log_group_read_blocks_only_access_logging_with_the_aws_code() {
    let spec =
        spec("httpApi: {id: h1}\nstage: $default\naccessLogging: {}\ndetailedMetrics: true\n");
    let mut observed = fresh_http();
    observed.log_group = Some(Err(AwsError::permanent(
        "DescribeLogGroups",
        "AccessDeniedException",
        "not allowed",
    )));
    let plan = plan(&guard(), &spec, &observed);
    assert_eq!(plan.blockers.len(), 1);
    assert_eq!(plan.blockers[0].control, Control::AccessLogging);
    assert_eq!(plan.blockers[0].reason, "AccessDeniedException");
    assert_eq!(
        paths(&plan.actions[0]),
        [("/defaultRouteSettings/detailedMetricsEnabled", "true")]
    );
}

#[test]
fn an_http_route_settings_write_carries_the_groups_unchanged_fields() {
    let spec = spec(HTTP);
    let mut observed = applied(fresh_http(), &plan(&guard(), &spec, &fresh_http()).actions);
    observed.stage.all_methods.metrics = Some(false);
    let plan = plan(&guard(), &spec, &observed);
    let Action::UpdateStage {
        changes, carried, ..
    } = &plan.actions[0]
    else {
        panic!("{:#?}", plan.actions)
    };
    assert_eq!(changes.len(), 1, "{changes:#?}");
    assert_eq!(
        carried,
        &[
            PatchOp {
                path: "/defaultRouteSettings/throttlingRateLimit".to_owned(),
                value: "100".to_owned(),
                remove: false,
            },
            PatchOp {
                path: "/defaultRouteSettings/throttlingBurstLimit".to_owned(),
                value: "50".to_owned(),
                remove: false,
            },
        ]
    );
    // Shown and reported as what changes, alone.
    assert_eq!(
        plan.actions[0].to_string(),
        "update-stage h1/$default: /defaultRouteSettings/detailedMetricsEnabled false -> true"
    );
    // A REST stage's patch names only what changes.
    let rest = self::spec(FULL);
    let mut observed = in_sync(&rest);
    observed.stage.all_methods.rate_limit = Some(1.0);
    let plan = crate::core::plan::plan(&guard(), &rest, &observed);
    assert!(matches!(&plan.actions[0], Action::UpdateStage { carried, .. } if carried.is_empty()));
}

#[test]
fn an_objective_replaces_the_owned_count_alarm_and_writes_composites_after_what_they_name() {
    let full = spec(FULL);
    let observed = in_sync(&full);
    let with_slo = spec(&format!("{FULL}slo: {{availability: 99.9}}\n"));
    let plan = plan(&guard(), &with_slo, &observed);
    let shown: Vec<String> = plan
        .actions
        .iter()
        .map(|a| {
            let text = a.to_string();
            text.split(" (").next().unwrap().to_owned()
        })
        .collect();
    let base = "apigw-guard-payments_orders-prod";
    let mut expected: Vec<String> = (1..=3)
        .flat_map(|t| {
            ["errors-long", "errors-short"]
                .map(|part| format!("put-metric-alarm {base}_slo{t}-{part}"))
        })
        .collect();
    expected.extend((1..=3).map(|t| format!("put-composite-alarm {base}_slo{t}")));
    expected.push(format!("delete-alarms {base}_5xx"));
    assert_eq!(shown, expected);
    assert!(
        plan.actions[..9]
            .iter()
            .all(|a| a.controls() == [Control::Objective])
    );
    assert_eq!(plan.actions[9].controls(), [Control::Alarms]);
    // Applied, the next plan is empty; countAlarm brings the count alarm back alone.
    let after = applied(observed, &plan.actions);
    assert!(super::plan(&guard(), &with_slo, &after).is_in_sync());
    let keep = spec(&format!(
        "{FULL}slo: {{availability: 99.9, countAlarm: true}}\n"
    ));
    let plan = super::plan(&guard(), &keep, &after);
    assert!(
        matches!(&plan.actions[..], [Action::PutAlarm { alarm, control: Control::Alarms, .. }] if alarm.name == format!("{base}_5xx")),
        "{:#?}",
        plan.actions
    );
}

#[test]
fn a_tier_composite_owned_by_someone_else_blocks_the_objective_alone() {
    let with_slo = spec(&format!("{FULL}slo: {{availability: 99.9}}\n"));
    let mut observed = in_sync(&with_slo);
    let name = guard().objective_alarm_name(2, crate::core::model::ObjectivePart::Composite);
    let taken = observed
        .alarms
        .iter_mut()
        .find(|(a, _)| a.name == name)
        .unwrap();
    taken.1 = Some(vec![(OWNER_TAG.to_owned(), "other/guard".to_owned())]);
    taken.0.config.as_mut().unwrap().description = "theirs".to_owned();
    let plan = plan(&guard(), &with_slo, &observed);
    assert!(plan.actions.is_empty(), "{:#?}", plan.actions);
    assert_eq!(
        plan.blockers
            .iter()
            .map(|b| (b.control, b.reason.as_str()))
            .collect::<Vec<_>>(),
        [(Control::Objective, "Conflict")]
    );
    // Dropping the objective deletes only what the guard owns: not the taken composite.
    let mut dropped = with_slo.clone();
    dropped.controls.slo = None;
    let plan = super::plan(&guard(), &dropped, &observed);
    let deletes: Vec<String> = plan
        .actions
        .iter()
        .filter(|a| matches!(a, Action::DeleteAlarms { .. }))
        .map(|a| a.to_string())
        .collect();
    assert_eq!(
        deletes[..2],
        [
            format!(
                "delete-alarms {}",
                guard().objective_alarm_name(3, crate::core::model::ObjectivePart::Composite)
            ),
            format!(
                "delete-alarms {}",
                guard().objective_alarm_name(1, crate::core::model::ObjectivePart::Composite)
            ),
        ]
    );
    assert!(
        !deletes
            .iter()
            .any(|d| d.contains(&format!("{name} ")) || d.ends_with(&name))
    );
}

/// The planner runs each control's step once, and a step plans for its own control alone: a
/// spec asking for one control, on a stage where it has everything to write, plans writes
/// (or blockers) of that control only.
#[test]
fn each_control_s_step_runs_once_and_plans_for_its_own_control_alone() {
    let mut order = ORDER.to_vec();
    order.sort();
    assert_eq!(order, Control::ALL);
    for control in Control::ALL {
        let section = control.declared().section;
        let value = crate::core::fixtures::section_value(section);
        let spec = spec(&format!(
            "restApi: {{name: orders-api}}\nstage: prod\n{section}: {value}\n"
        ));
        let mut observed = fresh();
        observed.dashboard = Some(Ok(ObservedDashboard {
            body: None,
            account_id: None,
            legacy: None,
        }));
        observed = with_log_group(observed, None);
        let plan = plan(&guard(), &spec, &observed);
        assert!(!plan.actions.is_empty(), "{section}: {:?}", plan.blockers);
        for action in &plan.actions {
            assert_eq!(action.controls(), [control], "{section}: {action}");
        }
        for blocker in &plan.blockers {
            assert_eq!(blocker.control, control, "{section}: {}", blocker.message);
        }
    }
}

const WEBSOCKET: &str = "
websocketApi: {name: orders-live}
stage: prod
executionLogging: {level: INFO, dataTrace: true}
detailedMetrics: true
stageThrottle:
  rateLimit: 100
  burstLimit: 50
  routes: {$connect: {rateLimit: 10, burstLimit: 5}}
alarms: {}
";

/// A WebSocket API stage: execution logging, detailed metrics and throttles in its route
/// settings (one UpdateStage), its errors alarm on the sum of IntegrationError and
/// ExecutionError, IntegrationLatency's, and no Latency alarm (AWS publishes no Latency for
/// the kind). Without the account's CloudWatch Logs role its logging is blocked, the rest
/// still written; once in AWS, nothing is planned.
#[test]
fn a_websocket_api_stage_gets_route_settings_and_alarms_on_its_own_metrics() {
    let spec = spec(WEBSOCKET);
    let observed = Observed {
        cloudwatch_role_arn: Some("arn:aws:iam::123456789012:role/logs".to_owned()),
        ..fixtures::observed(ApiKind::WebSocket, "w1", "orders-live")
    };
    let plan = plan(&guard(), &spec, &observed);
    assert!(plan.blockers.is_empty(), "{:?}", plan.blockers);
    assert_eq!(
        paths(&plan.actions[0]),
        [
            ("/defaultRouteSettings/loggingLevel", "INFO"),
            ("/defaultRouteSettings/dataTraceEnabled", "true"),
            ("/defaultRouteSettings/detailedMetricsEnabled", "true"),
            ("/routeSettings/$connect/detailedMetricsEnabled", "true"),
            ("/defaultRouteSettings/throttlingRateLimit", "100"),
            ("/defaultRouteSettings/throttlingBurstLimit", "50"),
            ("/routeSettings/$connect/throttlingRateLimit", "10"),
            ("/routeSettings/$connect/throttlingBurstLimit", "5"),
        ]
    );
    let alarms: Vec<&AlarmConfig> = plan
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::PutAlarm { alarm, .. } => Some(alarm.as_ref()),
            _ => None,
        })
        .collect();
    let names: Vec<&str> = alarms.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        [
            guard().alarm_name(AlarmKind::FiveXxError),
            guard().alarm_name(AlarmKind::IntegrationLatency)
        ]
    );
    let AlarmRule::Threshold(errors) = &alarms[0].rule else {
        panic!("{:?}", alarms[0]);
    };
    let AlarmMetric::Math(queries) = &errors.metric else {
        panic!("{errors:?}");
    };
    let summed: Vec<String> = queries
        .iter()
        .map(|q| match &q.query {
            Query::Stat(stat) => format!("{}={} {:?}", q.id, stat.metric_name, stat.dimensions),
            Query::Expression(e) => format!("{}={e} returned={}", q.id, q.return_data),
        })
        .collect();
    let dims = r#"[("ApiId", "w1"), ("Stage", "prod")]"#;
    assert_eq!(
        summed,
        [
            format!("errors_0=IntegrationError {dims}"),
            format!("errors_1=ExecutionError {dims}"),
            "errors=SUM([errors_0, errors_1]) returned=true".to_owned(),
        ]
    );
    let cost = crate::core::plan::cost::monthly(&guard(), &spec, &observed.api);
    assert_eq!(
        format!("{:.2}", cost.alarms_usd),
        "0.30",
        "the errors' two metrics and IntegrationLatency's one"
    );

    // Without the role: logging blocked, the throttles and metrics still written.
    let no_role = fixtures::observed(ApiKind::WebSocket, "w1", "orders-live");
    let blocked = super::plan(&guard(), &spec, &no_role);
    assert_eq!(
        blocked
            .blockers
            .iter()
            .map(|b| b.reason.as_str())
            .collect::<Vec<_>>(),
        ["CloudWatchRoleMissing"]
    );
    assert!(
        paths(&blocked.actions[0])
            .iter()
            .all(|(p, _)| !p.contains("logging") && !p.contains("dataTrace"))
    );

    // In AWS: nothing more to write.
    let applied = applied(observed, &plan.actions);
    assert!(super::plan(&guard(), &spec, &applied).is_in_sync());
}
