//! Pure planning: a guard's spec and what AWS has, in; the ordered AWS writes that close the
//! gap, out. No I/O here, so every decision is testable as `plan(spec, observed) == actions`.

use std::collections::BTreeMap;
use std::fmt;

use crate::core::control::Control;
use crate::core::crd::{ApiGatewayGuardSpec, LogLevel, ThrottleLimits};
use crate::core::dashboard;
use crate::core::kind::StageSettingsShape;
use crate::core::model::{
    AlarmConfig, AlarmKind, AlarmMetric, AlarmRule, ApiKind, GuardId, GuardedApi, MethodSettings,
    MetricStat, OWNER_TAG, Observed, PatchOp, Query, Tag, Threshold, access_log_group_name,
    alarm_description,
};
use crate::core::objective;

const NAMESPACE: &str = "AWS/ApiGateway";
const COMPARISON: &str = "GreaterThanThreshold";

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

/// Plans the writes that bring AWS to the spec. An in-sync guard plans nothing. The usage
/// plan goes last: AWS allows one UpdateUsagePlan per 20 s per account, and the other controls
/// should not wait behind that queue.
pub fn plan(guard: &GuardId, spec: &ApiGatewayGuardSpec, observed: &Observed) -> Plan {
    let mut plan = Plan::default();
    let mut stage_changes = stage_changes(spec, observed, &mut plan.blockers);
    // The log group first: the stage's destination must exist.
    stage_changes.extend(access_logging(guard, spec, observed, &mut plan));
    if !stage_changes.is_empty() {
        plan.actions.push(Action::UpdateStage {
            kind: observed.api.kind,
            api_id: observed.api.id.clone(),
            stage: spec.stage.clone(),
            carried: carried(observed.api.kind, observed, &stage_changes),
            changes: stage_changes,
        });
    }
    let usage_plan = usage_plan_action(spec, observed, &mut plan.blockers);
    alarm_actions(guard, spec, observed, &mut plan);
    // After the alarms: the dashboard shows them.
    dashboard_action(guard, spec, observed, &mut plan);
    plan.actions.extend(usage_plan);
    plan
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

/// Long: one block per control that lives in the stage's settings, in the order of the one
/// UpdateStage they make together; each block is its control's alone.
fn stage_changes(
    spec: &ApiGatewayGuardSpec,
    observed: &Observed,
    blockers: &mut Vec<Blocker>,
) -> Vec<Change> {
    let mut changes = Vec::new();
    let stage = &observed.stage;
    let methods = &stage.all_methods;
    if let Some(tracing) = &spec.controls.tracing {
        // Absent means off: a stage created without tracing has it disabled.
        let current = stage.tracing_enabled.unwrap_or(false);
        if current != tracing.enabled {
            changes.push(change(
                Control::Tracing,
                "/tracingEnabled",
                tracing.enabled.to_string(),
                stage.tracing_enabled.map(|b| b.to_string()),
            ));
        }
    }
    if let Some(logging) = &spec.controls.execution_logging {
        let needs_role = logging.level != LogLevel::Off || logging.data_trace;
        if needs_role && observed.cloudwatch_role_arn.is_none() {
            blockers.push(Blocker {
                control: Control::ExecutionLogging,
                reason: "CloudWatchRoleMissing".to_owned(),
                message: format!(
                    "the account has no CloudWatch Logs role ARN in {region}, so API Gateway \
                     refuses execution logging; set it with `aws apigateway update-account \
                     --region {region} --patch-operations \
                     op=replace,path=/cloudwatchRoleArn,value=<role-arn>` (a role trusting \
                     apigateway.amazonaws.com with AmazonAPIGatewayPushToCloudWatchLogs){}",
                    if logging.detailed_metrics {
                        "; detailed metrics are still applied"
                    } else {
                        ""
                    },
                    region = observed.region
                ),
                retryable: false,
            });
        } else {
            // Absent `*/*` settings mean logging OFF and data trace off.
            let level = methods.logging_level.as_deref().unwrap_or("OFF");
            if level != logging.level.as_aws() {
                changes.push(change(
                    Control::ExecutionLogging,
                    "/*/*/logging/loglevel",
                    logging.level.as_aws().to_owned(),
                    methods.logging_level.clone(),
                ));
            }
            if methods.data_trace.unwrap_or(false) != logging.data_trace {
                changes.push(change(
                    Control::ExecutionLogging,
                    "/*/*/logging/dataTrace",
                    logging.data_trace.to_string(),
                    methods.data_trace.map(|b| b.to_string()),
                ));
            }
        }
        if methods.metrics.unwrap_or(false) != logging.detailed_metrics {
            changes.push(change(
                Control::ExecutionLogging,
                "/*/*/metrics/enabled",
                logging.detailed_metrics.to_string(),
                methods.metrics.map(|b| b.to_string()),
            ));
        }
    }
    let kind = observed.api.kind;
    let routes = known_routes(spec, observed, blockers);
    let unset = MethodSettings::default();
    let settings_of = |route: Option<&str>| match route {
        None => methods,
        Some(key) => stage.routes.get(key).unwrap_or(&unset),
    };
    // The stage's default route settings and those of each route the spec throttles: a
    // route's own settings stand in for the defaults, detailed metrics too.
    let groups = std::iter::once(None).chain(routes.keys().map(|key| Some(key.as_str())));
    for route in groups {
        let have = settings_of(route);
        if let Some(enabled) = spec.controls.detailed_metrics
            && have.metrics.unwrap_or(false) != enabled
        {
            changes.push(change(
                Control::DetailedMetrics,
                &stage_path(kind, route, Setting::Metrics),
                enabled.to_string(),
                have.metrics.map(|b| b.to_string()),
            ));
        }
        let limits = match (&spec.controls.stage_throttle, route) {
            (None, _) => continue,
            (Some(throttle), None) => throttle.limits(),
            (Some(_), Some(key)) => routes[key].clone(),
        };
        if have.rate_limit != Some(limits.rate_limit) {
            changes.push(change(
                Control::StageThrottle,
                &stage_path(kind, route, Setting::RateLimit),
                number(limits.rate_limit),
                have.rate_limit.map(number),
            ));
        }
        if have.burst_limit != Some(limits.burst_limit) {
            changes.push(change(
                Control::StageThrottle,
                &stage_path(kind, route, Setting::BurstLimit),
                limits.burst_limit.to_string(),
                have.burst_limit.map(|b| b.to_string()),
            ));
        }
    }
    changes
}

/// The route throttles of the spec whose route the API has. The others are reported as one
/// StageThrottle blocker, with the routes that exist, and left out of the UpdateStage: a
/// route key AWS does not know fails the whole call, and with it every other stage setting.
/// Not knowing the routes (the listing failed) leaves every route out until they are read.
fn known_routes(
    spec: &ApiGatewayGuardSpec,
    observed: &Observed,
    blockers: &mut Vec<Blocker>,
) -> BTreeMap<String, ThrottleLimits> {
    let wanted = spec
        .controls
        .stage_throttle
        .as_ref()
        .and_then(|t| t.routes.clone())
        .unwrap_or_default();
    let keys = match &observed.route_keys {
        None => return wanted,
        Some(Ok(keys)) => keys,
        Some(Err(err)) => {
            blockers.push(Blocker {
                control: Control::StageThrottle,
                reason: err.code.clone(),
                message: format!(
                    "the API's routes could not be read (GetRoutes), so no route throttle was \
                     written; the stage's other settings were: {err}"
                ),
                retryable: err.retryable,
            });
            return BTreeMap::new();
        }
    };
    let (known, unknown): (BTreeMap<_, _>, BTreeMap<_, _>) =
        wanted.into_iter().partition(|(key, _)| keys.contains(key));
    if !unknown.is_empty() {
        let mut existing: Vec<&str> = keys.iter().map(String::as_str).collect();
        existing.sort_unstable();
        let names: Vec<&str> = unknown.keys().map(String::as_str).collect();
        blockers.push(Blocker {
            control: Control::StageThrottle,
            reason: "UnknownRoute".to_owned(),
            message: format!(
                "stageThrottle.routes names route(s) {} that API {} does not have (its routes: \
                 {}): their throttle is not written; the stage's other settings are",
                names.join(", "),
                observed.api.id,
                match existing.is_empty() {
                    true => "none".to_owned(),
                    false => existing.join(", "),
                }
            ),
            retryable: false,
        });
    }
    known
}

/// The fields an HTTP API's UpdateStage must carry beside `changes` though they do not
/// change: AWS takes a route-settings object given in an UpdateStage as the whole of it, so
/// a field left out falls back to AWS's default (a throttle of 0, detailed metrics off). Each
/// group that `changes` writes gets its other known fields as they are.
fn carried(kind: ApiKind, observed: &Observed, changes: &[Change]) -> Vec<PatchOp> {
    if kind.profile().stage_settings != StageSettingsShape::RouteSettings {
        return Vec::new();
    }
    let stage = &observed.stage;
    let groups = std::iter::once((None, &stage.all_methods)).chain(
        stage
            .routes
            .iter()
            .map(|(key, settings)| (Some(key.as_str()), settings)),
    );
    let mut carried = Vec::new();
    for (route, have) in groups {
        let paths = [Setting::Metrics, Setting::RateLimit, Setting::BurstLimit]
            .map(|setting| (setting, stage_path(kind, route, setting)));
        if !paths
            .iter()
            .any(|(_, path)| changes.iter().any(|c| &c.op.path == path))
        {
            continue;
        }
        for (setting, path) in paths {
            let value = match setting {
                Setting::Metrics => have.metrics.map(|b| b.to_string()),
                Setting::RateLimit => have.rate_limit.map(number),
                Setting::BurstLimit => have.burst_limit.map(|b| b.to_string()),
            };
            if let Some(value) = value
                && !changes.iter().any(|c| c.op.path == path)
            {
                carried.push(PatchOp {
                    path,
                    value,
                    remove: false,
                });
            }
        }
    }
    carried
}

/// A stage setting that differs only in where each kind of API keeps it.
#[derive(Clone, Copy)]
enum Setting {
    Metrics,
    RateLimit,
    BurstLimit,
}

/// Where a setting lives: REST stages take JSON-patch paths over their method settings
/// (`*/*` is every method); an HTTP stage's UpdateStage takes fields of its default route
/// settings or of one route's, which `aws` reads back from these paths.
fn stage_path(kind: ApiKind, route: Option<&str>, setting: Setting) -> String {
    match kind.profile().stage_settings {
        StageSettingsShape::MethodSettings => match setting {
            Setting::Metrics => "/*/*/metrics/enabled",
            Setting::RateLimit => "/*/*/throttling/rateLimit",
            Setting::BurstLimit => "/*/*/throttling/burstLimit",
        }
        .to_owned(),
        StageSettingsShape::RouteSettings => {
            let field = match setting {
                Setting::Metrics => "detailedMetricsEnabled",
                Setting::RateLimit => "throttlingRateLimit",
                Setting::BurstLimit => "throttlingBurstLimit",
            };
            match route {
                None => format!("/defaultRouteSettings/{field}"),
                Some(key) => format!("/routeSettings/{key}/{field}"),
            }
        }
    }
}

/// The access log group the spec names, or the guard's default for the stage.
pub fn access_log_group(spec: &ApiGatewayGuardSpec, api_id: &str) -> Option<String> {
    let logging = spec.controls.access_logging.as_ref()?;
    Some(
        logging
            .log_group_name
            .clone()
            .unwrap_or_else(|| access_log_group_name(api_id, &spec.stage)),
    )
}

/// Keeps the stage's access logs: the log group made (and its retention kept) when this guard
/// owns it or it is missing, then the stage's destination and format. A group someone else
/// made is written to and never changed (its tags are read before any write to it). Returns
/// the stage changes; log group writes go straight into the plan, ahead of the UpdateStage
/// that needs the group.
fn access_logging(
    guard: &GuardId,
    spec: &ApiGatewayGuardSpec,
    observed: &Observed,
    plan: &mut Plan,
) -> Vec<Change> {
    let Some(logging) = &spec.controls.access_logging else {
        return Vec::new();
    };
    let kind = observed.api.kind;
    let current = observed.stage.access_log.as_ref();
    if !logging.enabled {
        return match (current, kind.profile().stage_settings) {
            (None, _) => Vec::new(),
            // In the stage's one UpdateStage, with whatever else changes.
            (Some(current), StageSettingsShape::MethodSettings) => vec![Change {
                control: Control::AccessLogging,
                op: PatchOp {
                    path: "/accessLogSettings".to_owned(),
                    remove: true,
                    ..Default::default()
                },
                from: Some(current.destination_arn.clone()),
            }],
            (Some(_), StageSettingsShape::RouteSettings) => {
                plan.actions.push(Action::DisableAccessLogs {
                    api_id: observed.api.id.clone(),
                    stage: spec.stage.clone(),
                });
                Vec::new()
            }
        };
    }
    // REST APIs write access logs through the account's CloudWatch Logs role, as execution
    // logs; HTTP APIs through API Gateway's service-linked role.
    if kind.profile().logs_through_account_role && observed.cloudwatch_role_arn.is_none() {
        plan.blockers.push(Blocker {
            control: Control::AccessLogging,
            reason: "CloudWatchRoleMissing".to_owned(),
            message: format!(
                "the account has no CloudWatch Logs role ARN in {region}, so API Gateway refuses \
                 {article} {noun}'s access logs; set it with `aws apigateway update-account --region \
                 {region} --patch-operations op=replace,path=/cloudwatchRoleArn,value=<role-arn>`",
                region = observed.region,
                article = kind.profile().article,
                noun = kind.noun(),
            ),
            retryable: false,
        });
        return Vec::new();
    }
    let group = match observed.log_group.as_ref() {
        None => return Vec::new(),
        Some(Err(err)) => {
            plan.blockers.push(Blocker {
                control: Control::AccessLogging,
                reason: err.code.clone(),
                message: format!("access log group: {err}"),
                retryable: err.retryable,
            });
            return Vec::new();
        }
        Some(Ok(group)) => group,
    };
    let name = access_log_group(spec, &observed.api.id).unwrap_or_default();
    match &group.found {
        None => plan.actions.push(Action::CreateLogGroup {
            name,
            retention_days: logging.retention_days,
            tags: guard.tags(),
        }),
        // Unread tags count as the guard's here, as an alarm's do: the reconcile reads them
        // afresh before any log group write and plans again, so a group someone else made is
        // never changed.
        Some(found)
            if found.tags.as_ref().is_none_or(|tags| guard.owns(tags))
                && found.retention_days != Some(logging.retention_days) =>
        {
            plan.actions.push(Action::PutRetention {
                name,
                retention_days: logging.retention_days,
                from: found.retention_days,
            })
        }
        Some(_) => {}
    }
    let format = kind.profile().access_log_format();
    let same_group = current.is_some_and(|log| {
        log.destination_arn.trim_end_matches(":*") == group.arn.trim_end_matches(":*")
    });
    if same_group && current.is_some_and(|log| log.format == format) {
        return Vec::new();
    }
    // Both fields together: an HTTP API's UpdateStage replaces the access log settings whole.
    vec![
        change(
            Control::AccessLogging,
            "/accessLogSettings/destinationArn",
            group.arn.clone(),
            current.map(|log| log.destination_arn.clone()),
        ),
        change(
            Control::AccessLogging,
            "/accessLogSettings/format",
            format,
            current.map(|log| log.format.clone()),
        ),
    ]
}

fn usage_plan_action(
    spec: &ApiGatewayGuardSpec,
    observed: &Observed,
    blockers: &mut Vec<Blocker>,
) -> Option<Action> {
    let throttle = spec.controls.throttle.as_ref()?;
    let usage_plan = match observed.usage_plan.as_ref()? {
        Ok(plan) => plan,
        Err(err) => {
            blockers.push(Blocker {
                control: Control::Throttle,
                reason: err.code.clone(),
                message: format!("usage plan {}: {err}", describe_ref(&throttle.usage_plan)),
                retryable: err.retryable,
            });
            return None;
        }
    };
    let serves = usage_plan
        .api_stages
        .iter()
        .any(|(api, stage)| *api == observed.api.id && *stage == spec.stage);
    if !serves {
        blockers.push(Blocker {
            control: Control::Throttle,
            reason: "UsagePlanNotServingStage".to_owned(),
            message: format!(
                "usage plan {} ({}) does not serve stage {} of REST API {} ({}); add the stage \
                 to the plan or name the plan that serves it",
                describe_ref(&throttle.usage_plan),
                usage_plan.id,
                spec.stage,
                observed.api.name,
                observed.api.id
            ),
            retryable: false,
        });
        return None;
    }
    let mut changes = Vec::new();
    if usage_plan.rate_limit != Some(throttle.rate_limit) {
        changes.push(change(
            Control::Throttle,
            "/throttle/rateLimit",
            number(throttle.rate_limit),
            usage_plan.rate_limit.map(number),
        ));
    }
    if usage_plan.burst_limit != Some(throttle.burst_limit) {
        changes.push(change(
            Control::Throttle,
            "/throttle/burstLimit",
            throttle.burst_limit.to_string(),
            usage_plan.burst_limit.map(|b| b.to_string()),
        ));
    }
    (!changes.is_empty()).then(|| Action::UpdateUsagePlan {
        usage_plan_id: usage_plan.id.clone(),
        changes,
    })
}

/// `name "x"` or `id "y"`, as the guard named it.
pub fn describe_ref(by: &crate::core::crd::ResourceRef) -> String {
    match (&by.name, &by.id) {
        (Some(name), _) => format!("named {name:?}"),
        (None, Some(id)) => format!("with id {id:?}"),
        (None, None) => "(neither name nor id given)".to_owned(),
    }
}

/// The alarm the spec wants of one kind, or `None` when it wants none. An objective
/// replaces the 5XX count alarm unless `slo.countAlarm` keeps it.
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
    let metric = kind.metric(api.kind);
    Some(AlarmConfig {
        name: guard.alarm_name(kind),
        description: alarm_description(format!(
            "API Gateway {metric} of {}/{}, guarded by apigw-guard {}; see the API Gateway 5XX runbook",
            api.shown_name(),
            spec.stage,
            guard.owner()
        )),
        actions_enabled: true,
        actions: alarms.actions.clone(),
        ok_actions: alarms.ok_actions.clone(),
        rule: AlarmRule::Threshold(Threshold {
            metric: AlarmMetric::Stat(MetricStat {
                namespace: NAMESPACE.to_owned(),
                metric_name: metric.to_owned(),
                dimensions: api.dimensions(&spec.stage),
                statistic: alarm.statistic.clone(),
                period: alarm.period_seconds,
            }),
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
    let mut slots: Vec<(Control, String, Option<AlarmConfig>)> = AlarmKind::ALL
        .into_iter()
        .map(|kind| {
            let desired = desired_alarm(guard, spec, api, kind);
            (Control::Alarms, guard.alarm_name(kind), desired)
        })
        .collect();
    let mut wanted = objective::alarms(guard, spec, api);
    slots.extend(guard.objective_alarm_names().into_iter().map(|name| {
        let desired = wanted
            .iter()
            .position(|alarm| alarm.name == name)
            .map(|i| wanted.remove(i));
        (Control::Objective, name, desired)
    }));
    slots
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

fn alarm_actions(
    guard: &GuardId,
    spec: &ApiGatewayGuardSpec,
    observed: &Observed,
    plan: &mut Plan,
) {
    let wanted_tags = guard.tags();
    let mut deletes: Vec<(Control, String, bool)> = Vec::new();
    let mut blocked = Vec::new();
    for (control, name, desired) in alarm_slots(guard, spec, &observed.api) {
        let existing = observed.alarms.iter().find(|(alarm, _)| alarm.name == name);
        match (desired, existing) {
            (None, None) => {}
            (Some(alarm), None) => plan.actions.push(Action::PutAlarm {
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
                        plan.blockers.push(Blocker {
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
                    deletes.push((control, name, composite));
                    continue;
                };
                let diff = alarm_diff(&desired, alarm.config.as_ref());
                if !diff.is_empty() {
                    plan.actions.push(Action::PutAlarm {
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
                    plan.actions.push(Action::TagAlarm {
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
    // composite still names, and deletes one composite a call. Then the rest, by control.
    for (control, name, _) in deletes.iter().filter(|(_, _, composite)| *composite).rev() {
        plan.actions.push(Action::DeleteAlarms {
            control: *control,
            names: vec![name.clone()],
        });
    }
    for control in [Control::Alarms, Control::Objective] {
        let names: Vec<String> = deletes
            .iter()
            .filter(|(c, _, composite)| *c == control && !composite)
            .map(|(_, name, _)| name.clone())
            .collect();
        if !names.is_empty() {
            plan.actions.push(Action::DeleteAlarms { control, names });
        }
    }
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
        plan.actions.push(Action::RetireAlarms { names: retired });
    }
}

/// Keeps the guard's dashboard: created, put back when its body differs in meaning, deleted
/// (when this guard's) once disabled. A dashboard of the name that this guard's marker does
/// not mark is someone else's and never written.
fn dashboard_action(
    guard: &GuardId,
    spec: &ApiGatewayGuardSpec,
    observed: &Observed,
    plan: &mut Plan,
) {
    let (Some(wanted), Some(read)) = (&spec.controls.dashboard, &observed.dashboard) else {
        return;
    };
    let name = guard.dashboard_name();
    let found = match read {
        Ok(found) => found,
        Err(err) => {
            plan.blockers.push(Blocker {
                control: Control::Dashboard,
                reason: err.code.clone(),
                message: err.to_string(),
                retryable: err.retryable,
            });
            return;
        }
    };
    let owner = found.body.as_deref().map(dashboard::owner);
    let ours = owner
        .as_ref()
        .is_some_and(|o| o.as_deref() == Some(&guard.owner()));
    if !wanted.enabled {
        let names: Vec<String> = ours
            .then(|| name.clone())
            .into_iter()
            .chain(found.legacy.clone())
            .collect();
        if !names.is_empty() {
            plan.actions.push(Action::DeleteDashboards { names });
        }
        return;
    }
    // The same dashboard under its first name: written anew under this one, then deleted.
    let retire = found
        .legacy
        .clone()
        .map(|name| Action::RetireDashboard { name });
    if let Some(owner) = owner.filter(|_| !ours) {
        plan.blockers.push(Blocker {
            control: Control::Dashboard,
            reason: "Conflict".to_owned(),
            message: format!(
                "dashboard {name} exists and {}, not by this guard; it is left untouched: \
                 delete or rename it to let this guard keep its dashboard",
                owner.map_or(
                    format!("is not marked ({OWNER_TAG}=...) as kept by apigw-guard"),
                    |o| format!("is kept by guard {o}")
                )
            ),
            retryable: false,
        });
        return;
    }
    let account_id = found.account_id.as_deref().unwrap_or_default();
    let want = dashboard::body(guard, spec, &observed.api, &observed.region, account_id);
    let diff = match &found.body {
        None => Vec::new(),
        Some(body) => {
            let have = serde_json::from_str(body).unwrap_or_default();
            if dashboard::same_meaning(&want, &have) {
                plan.actions.extend(retire);
                return;
            }
            dashboard::differing_widgets(&want, &have)
        }
    };
    plan.actions.push(Action::PutDashboard {
        name,
        body: want.to_string(),
        diff,
    });
    plan.actions.extend(retire);
}

#[cfg(test)]
mod tests;
