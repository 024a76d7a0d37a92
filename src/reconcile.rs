//! One reconcile of one guard: who it acts as, observe (read AWS) -> plan (pure) -> apply
//! (write AWS), then its deployment's verification. The controller and the CLI both run
//! exactly this, through [`guard`]; where the guard lives (a cluster, a file) is a [`Scope`].

use std::future::Future;

use crate::aws::{ApiGateway, CallLog, CloudWatch, RegionalClients};
use crate::core::crd::DeploymentStatus;
use crate::core::crd::{
    ApiGatewayGuard, ApiGatewayGuardPolicy, ApiGatewayGuardSpec, LogLevel, ResourceRef,
};
use crate::core::dashboard;
use crate::core::deploys;
use crate::core::model::{
    AlarmConfig, ApiKind, AwsError, GuardId, GuardedApi, Identity, Observed, ObservedAlarm,
    ObservedDashboard, Tag,
};
use crate::core::plan::control::Control;
use crate::core::plan::{Action, Plan, access_log_group, describe_ref, plan};
use crate::core::policy::Matched;
use crate::core::report::{CONFLICT, DeploymentReport, ObserveError, Outcome, Report};
use crate::core::tenancy::Tenancy;
use crate::core::validate::{validate, validate_alarm_names};

// The stages a policy's selector matches, from shared listings. Uses: core, aws.
pub mod discovery;

/// Whether a reconcile writes: `Apply` makes AWS match the spec; `Plan` (`plan`, `verify`)
/// reads and plans, and writes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Apply,
    Plan,
}

/// Where a guard lives, which decides what its reconcile may do: the operator's cluster
/// (`k8s::tenants::Cluster`) or the CLI's file (`cli::File`). [`guard`] asks both the same two
/// questions, and [`holds`] (what a policy covers) two more; how their answers differ, each
/// implementation says.
pub trait Scope: Sync {
    /// The identity the guard acts as and the tenancy rules it acts under, or why it may not
    /// act at all.
    fn access(
        &self,
        guard: &ApiGatewayGuard,
    ) -> impl Future<Output = Result<(Identity, Option<Tenancy>), AwsError>> + Send;

    /// Who else may hold the guard's stage: given its API as AWS resolved it, why another
    /// guard keeps the stage (see [`conflict`]), or `None` when the stage is this guard's.
    fn rival<'a>(
        &'a self,
        guard: &'a ApiGatewayGuard,
    ) -> impl Future<Output = impl Fn(&GuardedApi) -> Option<String> + Send + Sync + 'a> + Send;

    /// The AWS account that a guard or policy naming AwsAccount `account` reaches (naming
    /// none: the operator's own identity, in account `own`), or `None` where the scope has no
    /// such AwsAccount.
    fn reaches(&self, account: Option<&str>, own: &str) -> Option<String>;

    /// Whether `guard` may keep a stage of `api` from others: it may act, and its tenancy
    /// lets it have the API.
    fn may_claim(&self, guard: &ApiGatewayGuard, api: &GuardedApi) -> bool;
}

/// Whether a guard of `scope` holds a stage that `policy` matched, so the policy writes no
/// guard of its own for it: the guard is in the policy's region, reaches the policy's account
/// and may claim the stage's API. `own` is the account of the operator's own identity.
pub fn holds<'a>(
    scope: &'a impl Scope,
    regional: &'a RegionalClients,
    policy: &ApiGatewayGuardPolicy,
    own: &'a str,
) -> impl Fn(&ApiGatewayGuard, &Matched) -> bool + 'a {
    let region = regional.region_name(policy.spec.region.as_deref());
    let account = scope.reaches(policy.spec.account.as_deref(), own);
    move |guard, stage| {
        regional.region_name(guard.spec.region.as_deref()) == region
            && scope.reaches(guard.spec.account.as_deref(), own) == account
            && scope.may_claim(guard, &stage.api)
    }
}

/// Reconciles `guard` where `scope` says it lives: its access first (a guard that may not act
/// reads nothing), then [`reconcile_claimed`] through the clients of its identity and region,
/// then [`verify_deployment`] against the deployment its status last held. AWS calls are
/// counted in `calls`.
pub async fn guard(
    scope: &impl Scope,
    regional: &RegionalClients,
    guard: &ApiGatewayGuard,
    mode: Mode,
    calls: &CallLog,
) -> Report {
    let id = GuardId::of(guard);
    let (identity, tenancy) = match scope.access(guard).await {
        Ok(access) => access,
        Err(source) => {
            let what = match &guard.spec.account {
                Some(name) => format!("AwsAccount {name}"),
                None => "the operator's own AWS identity".to_owned(),
            };
            return Report::refused(&id, what, source);
        }
    };
    let region = guard.spec.region.as_deref();
    let (apigateway, cloudwatch) = regional.clients(&identity, region, calls).await;
    let rival = scope.rival(guard).await;
    // Boxed: the whole observe-plan-apply future is large, and the controller nests it.
    let mut report = Box::pin(reconcile_claimed(
        &apigateway,
        &cloudwatch,
        &id,
        &guard.spec,
        mode,
        rival,
        tenancy.as_ref(),
    ))
    .await;
    let verified = guard.status.as_ref().and_then(|s| s.deployment.as_ref());
    report.deployment = Box::pin(verify_deployment(
        &apigateway,
        &cloudwatch,
        &guard.spec,
        &report,
        verified,
        mode,
    ))
    .await;
    report
}

/// Verifies the deployment the stage serves (`spec.deployments`), after the reconcile that
/// observed it: tracks a new one against `previous` (the guard's status), judges an open
/// window from one GetMetricData of the window and the same minutes before it, and rolls a
/// regression back (rollback: Auto) with one UpdateStage, unless this is a dry run or the
/// guard is suspended. Its writes go through the clients and the tenancy the reconcile was
/// allowed.
pub async fn verify_deployment(
    apigateway: &impl ApiGateway,
    cloudwatch: &impl CloudWatch,
    spec: &ApiGatewayGuardSpec,
    report: &Report,
    previous: Option<&DeploymentStatus>,
    mode: Mode,
) -> Option<DeploymentReport> {
    let deployments = spec.controls.deployments.as_ref()?;
    let observed = report.observed.as_ref().ok()?;
    let serving = observed.stage.deployment.as_ref()?;
    let now = crate::aws::now_secs();
    let done = |status| {
        Some(DeploymentReport {
            status,
            rollback: None,
        })
    };
    // Boxed: the whole verification future stays small enough for a test thread.
    let made = Box::pin(deployments_made(
        apigateway,
        &observed.api,
        serving,
        previous,
    ));
    let made = match made.await {
        Ok(made) => made,
        Err(err) => {
            // Only a new deployment is read (previous is Some): the status is kept until its
            // window can start where it should.
            let previous = previous.cloned().unwrap_or_default();
            let message = format!(
                "{}; the stage now serves {}, whose making could not be read (tried again at \
                 the next reconcile): {err}",
                previous.message, serving.id
            );
            return done(DeploymentStatus {
                message,
                ..previous
            });
        }
    };
    let status = deploys::track(previous, serving, made, now);
    if status.verdict != deploys::VERIFYING {
        return done(status);
    }
    let verify_for = deployments.verify_for_seconds().unwrap_or(1800);
    let since = deploys::epoch(&status.since).unwrap_or(now);
    // A window is verifyFor long however late it is judged (a guard noticed late, or an
    // operator that was down).
    let (start, length) = deploys::windows(since, now.min(since + verify_for));
    let key = observed.api.metric_stage(&spec.stage);
    let (baseline, window) = match cloudwatch.deployment_metrics(&key, start, length).await {
        Ok(figures) => figures,
        Err(err) => {
            let message = format!(
                "{}; the window's metrics could not be read: {err}",
                status.message
            );
            return done(DeploymentStatus { message, ..status });
        }
    };
    let allowed = spec.controls.slo.as_ref().map(|slo| slo.budget());
    let judgement = deploys::judge(
        observed.api.kind,
        &status,
        verify_for,
        now,
        &window,
        &baseline,
        allowed,
    );
    let deploys::Judgement::Regressed(evidence) = &judgement else {
        return done(deploys::settle(status, &judgement, None, now));
    };
    let target = match deploys::rollback_target(deployments, &status, serving.auto_deploy) {
        Ok(_) if mode == Mode::Plan || spec.controls.suspend => {
            Err("a dry run or a suspended guard writes nothing".to_owned())
        }
        other => other,
    };
    let to = match target {
        Ok(to) => to,
        Err(why) => {
            let mut settled = deploys::settle(status, &judgement, None, now);
            settled.message = format!("{}; not rolled back: {why}", settled.message);
            return done(settled);
        }
    };
    let result = apigateway
        .roll_back_stage(observed.api.kind, &observed.api.id, &spec.stage, &to)
        .await;
    let settled = match &result {
        Ok(()) => deploys::settle(status, &judgement, Some(&to), now),
        // Throttled or the like: still verifying, so the next reconcile judges and tries again.
        Err(err) if err.retryable => DeploymentStatus {
            message: format!("{evidence}; rolling back to {to} failed and is tried again: {err}"),
            ..status
        },
        Err(err) => {
            let mut settled = deploys::settle(status, &judgement, None, now);
            settled.message = format!("{}; the rollback to {to} failed: {err}", settled.message);
            settled
        }
    };
    Some(DeploymentReport {
        status: settled,
        rollback: Some((to, result)),
    })
}

/// When the deployment the stage serves was made, and the one the status holds, read only when
/// the stage serves another than `previous` says (GetDeployment, twice at most per new
/// deployment). A deployment AWS no longer has is one whose making is unknown.
async fn deployments_made(
    apigateway: &impl ApiGateway,
    api: &GuardedApi,
    serving: &crate::core::model::StageDeployment,
    previous: Option<&DeploymentStatus>,
) -> Result<deploys::Made, AwsError> {
    let made = |id: String| async move {
        match apigateway.deployment_made(api.kind, &api.id, &id).await {
            Err(err) if err.code == "NotFoundException" => Ok(None),
            other => other,
        }
    };
    let held = match previous {
        // The first look (a baseline, never judged) and the same deployment read nothing.
        None => return Ok(deploys::Made::default()),
        Some(previous) if previous.id == serving.id => return Ok(deploys::Made::default()),
        Some(previous) => Some(previous.id.clone()).filter(|id| !id.is_empty()),
    };
    let (serving_made, held_made) = tokio::join!(made(serving.id.clone()), async {
        match held {
            Some(id) => made(id).await,
            None => Ok(None),
        }
    });
    Ok(deploys::Made {
        serving: serving_made?,
        held: held_made?,
    })
}

/// Reads what the guard needs from AWS: the REST API, the stage, and (only when the spec
/// manages them) the usage plan, the account's logging role, the dashboard and the access log
/// group; the guard's alarms always, so owned alarms the spec dropped can be removed. Shared
/// clients answer from listings up to one window old, without the tags of alarms and log
/// groups unless kept: [`reconcile_claimed`] reads afresh whatever the plan would write.
///
/// Long: its reads start together in one `join!`, one arm per control, so they sit side by
/// side here.
pub async fn observe(
    apigateway: &impl ApiGateway,
    cloudwatch: &impl CloudWatch,
    guard: &GuardId,
    spec: &ApiGatewayGuardSpec,
) -> Result<Observed, ObserveError> {
    let (kind, by) = spec.api().ok_or_else(|| ObserveError {
        what: "the spec".to_owned(),
        source: AwsError::check("InvalidSpec", crate::core::kind::one_api()),
    })?;
    let api = match apigateway.find_api(kind, by).await {
        Ok(api) => api,
        Err(mut source) => {
            if source.code == "NotFoundException" {
                let field = |kind: ApiKind| format!("spec.{}", kind.profile().spec_field);
                let hint = Box::pin(other_kind_hint(apigateway, kind, by, field)).await;
                source.message.push_str(&hint);
            }
            // Where it was looked for: a guard in the wrong region or account finds nothing.
            let mut looked = cloudwatch.region().to_owned();
            if let Ok(account) = Box::pin(cloudwatch.account_id()).await {
                looked.push_str(&format!(", account {account}"));
            }
            return Err(ObserveError {
                what: format!("{} {} in {looked}", kind.noun(), describe_ref(by)),
                source,
            });
        }
    };
    let access_logs = spec
        .controls
        .access_logging
        .as_ref()
        .is_some_and(|l| l.enabled);
    // A REST API writes execution and access logs through the account's CloudWatch role.
    let needs_role = kind.profile().logs_through_account_role
        && (access_logs
            || spec
                .controls
                .execution_logging
                .as_ref()
                .is_some_and(|l| l.level != LogLevel::Off || l.data_trace));
    let log_group = access_log_group(spec, &api.id).filter(|_| access_logs);
    // Only a kind with routes may throttle them: `validate` refused the spec otherwise.
    let throttles_routes = spec
        .controls
        .stage_throttle
        .as_ref()
        .and_then(|t| t.routes.as_ref())
        .is_some_and(|routes| !routes.is_empty());
    let (stage, usage_plan, role, alarms, dashboard, log_group, route_keys) = tokio::join!(
        apigateway.get_stage(kind, &api.id, &spec.stage),
        async {
            match &spec.controls.throttle {
                Some(throttle) => Some(apigateway.find_usage_plan(&throttle.usage_plan).await),
                None => None,
            }
        },
        async {
            match needs_role {
                true => apigateway.cloudwatch_role_arn().await,
                false => Ok(None),
            }
        },
        observe_alarms(cloudwatch, guard, &[]),
        async {
            match &spec.controls.dashboard {
                // Boxed: it keeps the whole reconcile future small enough for a test thread.
                Some(wanted) => {
                    Some(Box::pin(observe_dashboard(cloudwatch, guard, wanted.enabled)).await)
                }
                None => None,
            }
        },
        async {
            match &log_group {
                Some(name) => Some(cloudwatch.listed_log_group(name).await),
                None => None,
            }
        },
        async {
            match throttles_routes {
                // Boxed, as the dashboard's read: the reconcile future stays small.
                true => Some(Box::pin(apigateway.route_keys(&api.id)).await),
                false => None,
            }
        },
    );
    let stage = match stage {
        Ok(stage) => stage,
        Err(mut source) => {
            // A stage name mistyped: say which the API has.
            if source.code == "NotFoundException"
                && let Ok(names) = Box::pin(apigateway.stage_names(kind, &api.id)).await
            {
                let names = match names.is_empty() {
                    true => "none".to_owned(),
                    false => names.join(", "),
                };
                source.message = format!("{}; the API's stages: {names}", source.message);
            }
            return Err(ObserveError {
                what: format!(
                    "stage {:?} of {} {:?} ({})",
                    spec.stage,
                    kind.noun(),
                    api.name,
                    api.id
                ),
                source,
            });
        }
    };
    let cloudwatch_role_arn = role.map_err(|source| ObserveError {
        what: "the API Gateway account settings".to_owned(),
        source,
    })?;
    let alarms = alarms.map_err(|source| alarms_error(guard, source))?;
    Ok(Observed {
        api,
        stage,
        usage_plan,
        cloudwatch_role_arn,
        alarms,
        region: cloudwatch.region().to_owned(),
        dashboard,
        log_group,
        route_keys,
    })
}

/// For an API not found by name: whether an API of the other kind has the name (an HTTP API
/// named under `restApi`, or the reverse), and where to name it then (`field`: the spec's
/// field or the CLI's `--kind` of a kind); empty otherwise. Each other kind is asked in turn.
pub async fn other_kind_hint(
    apigateway: &impl ApiGateway,
    kind: ApiKind,
    by: &ResourceRef,
    field: impl Fn(ApiKind) -> String,
) -> String {
    if by.name.is_none() {
        return String::new();
    }
    for other in crate::core::kind::KINDS
        .into_iter()
        .filter(|other| *other != kind)
    {
        if let Ok(api) = apigateway.find_api(other, by).await {
            let profile = other.profile();
            return format!(
                "; {} {} of that name exists ({}): name it with {}",
                profile.article,
                profile.noun,
                api.id,
                field(other)
            );
        }
    }
    String::new()
}

/// The guard's dashboard, and (when one is wanted) the account its alarm widgets name.
async fn observe_dashboard(
    cloudwatch: &impl CloudWatch,
    guard: &GuardId,
    wanted: bool,
) -> Result<ObservedDashboard, AwsError> {
    let name = guard.dashboard_name();
    let (body, account_id) = tokio::join!(cloudwatch.get_dashboard(&name), async {
        match wanted {
            true => cloudwatch.account_id().await.map(Some),
            false => Ok(None),
        }
    });
    let body = body?;
    // Only a guard without a dashboard under today's name may still have one under the
    // first: a guard in sync reads nothing more.
    let legacy = match body {
        Some(_) => None,
        None => legacy_dashboard(cloudwatch, guard).await?,
    };
    Ok(ObservedDashboard {
        body,
        account_id: account_id?,
        legacy,
    })
}

/// The guard's dashboard under its first name, when one of that name carries its marker.
async fn legacy_dashboard(
    cloudwatch: &impl CloudWatch,
    guard: &GuardId,
) -> Result<Option<String>, AwsError> {
    let name = guard.legacy_dashboard_name();
    let body = cloudwatch.get_dashboard(&name).await?;
    Ok(body
        .filter(|body| dashboard::owner(body).as_deref() == Some(&guard.owner()))
        .map(|_| name))
}

fn alarms_error(guard: &GuardId, source: AwsError) -> ObserveError {
    ObserveError {
        what: format!("the alarms of guard {guard}"),
        source,
    }
}

/// The log group a planned write makes or changes.
fn log_group_written(plan: &Plan) -> Option<&str> {
    plan.actions.iter().find_map(|action| match action {
        Action::CreateLogGroup { name, .. } | Action::PutRetention { name, .. } => {
            Some(name.as_str())
        }
        _ => None,
    })
}

/// Whether the plan writes anything of `control`'s.
/// Whether the plan's UpdateStage names a route (a route throttle): a route key AWS does not
/// know fails the whole call.
fn names_routes(plan: &Plan) -> bool {
    plan.actions.iter().any(|action| {
        matches!(action, Action::UpdateStage { changes, .. }
            if changes.iter().any(|c| c.op.path.starts_with("/routeSettings/")))
    })
}

fn touches(plan: &Plan, control: Control) -> bool {
    plan.actions
        .iter()
        .any(|action| action.controls().contains(&control))
}

/// The guard's alarms; the tags of those named in `with_tags` read from AWS, the others'
/// only when kept.
async fn observe_alarms(
    cloudwatch: &impl CloudWatch,
    guard: &GuardId,
    with_tags: &[String],
) -> Result<Vec<(ObservedAlarm, Option<Vec<Tag>>)>, AwsError> {
    let mut alarms = Vec::new();
    for alarm in cloudwatch
        .describe_alarms(&guard.known_alarm_names())
        .await?
    {
        let tags = match with_tags.contains(&alarm.name) {
            true => Some(cloudwatch.list_tags(&alarm.arn).await?),
            false => cloudwatch.kept_tags(&alarm.arn),
        };
        alarms.push((alarm, tags));
    }
    Ok(alarms)
}

/// The alarms a plan writes (puts, tags or deletes) whose owner is not known yet: whose tags
/// must be read before it does.
fn owners_unread(plan: &Plan, observed: &Observed) -> Vec<String> {
    let written = plan.actions.iter().flat_map(|action| match action {
        Action::PutAlarm { alarm, .. } => vec![alarm.name.clone()],
        Action::TagAlarm { name, .. } => vec![name.clone()],
        Action::DeleteAlarms { names, .. } | Action::RetireAlarms { names } => names.clone(),
        _ => Vec::new(),
    });
    written
        .filter(|name| {
            observed
                .alarms
                .iter()
                .any(|(alarm, tags)| alarm.name == *name && tags.is_none())
        })
        .collect()
}

/// Deletes the guard's alarms (under today's names, the first ones and its objective's) that
/// exist and carry its owner tag, and returns their names. An alarm of the same name that
/// someone else owns is left. Composite alarms go first, one a call and the slowest tier
/// first, as AWS deletes nothing a composite still names.
pub async fn delete_owned_alarms(
    cloudwatch: &impl CloudWatch,
    guard: &GuardId,
) -> Result<Vec<String>, AwsError> {
    cloudwatch.forget(&guard.known_alarm_names());
    let (composites, others): (Vec<ObservedAlarm>, Vec<ObservedAlarm>) =
        observe_alarms(cloudwatch, guard, &guard.known_alarm_names())
            .await?
            .into_iter()
            .filter(|(_, tags)| tags.as_ref().is_some_and(|tags| guard.owns(tags)))
            .map(|(alarm, _)| alarm)
            .partition(|alarm| alarm.config.as_ref().is_some_and(AlarmConfig::is_composite));
    let mut deleted = Vec::new();
    for composite in composites.iter().rev() {
        cloudwatch
            .delete_alarms(std::slice::from_ref(&composite.name))
            .await?;
        deleted.push(composite.name.clone());
    }
    let others: Vec<String> = others.into_iter().map(|alarm| alarm.name).collect();
    if !others.is_empty() {
        cloudwatch.delete_alarms(&others).await?;
    }
    deleted.extend(others);
    Ok(deleted)
}

/// The guard's access log group when it exists and this guard made it (its owner tag): what
/// deleting the guard may remove. A group someone else made is never among them.
pub async fn owned_log_group(
    cloudwatch: &impl CloudWatch,
    guard: &GuardId,
    spec: &ApiGatewayGuardSpec,
    api_id: Option<&str>,
) -> Result<Option<String>, AwsError> {
    // The default name needs the API's id, known once the guard resolved it; a group the
    // spec names does not.
    let name = match api_id {
        Some(id) => access_log_group(spec, id),
        None => spec
            .controls
            .access_logging
            .as_ref()
            .and_then(|logging| logging.log_group_name.clone()),
    };
    let Some(name) = name else {
        return Ok(None);
    };
    // Always a fresh read, tags included: never a listing.
    let group = cloudwatch.log_group(&name).await?;
    Ok(group
        .found
        .filter(|found| found.tags.as_ref().is_some_and(|tags| guard.owns(tags)))
        .map(|found| found.name))
}

/// The guard's dashboards (under today's name and the first one) that exist and carry this
/// guard's marker: what deleting the guard may remove.
pub async fn owned_dashboards(
    cloudwatch: &impl CloudWatch,
    guard: &GuardId,
) -> Result<Vec<String>, AwsError> {
    let name = guard.dashboard_name();
    // Read afresh: a listing up to a window old does not decide what is deleted.
    cloudwatch.forget_dashboards(&[name.clone(), guard.legacy_dashboard_name()]);
    let body = cloudwatch.get_dashboard(&name).await?;
    let current = body
        .filter(|body| dashboard::owner(body).as_deref() == Some(&guard.owner()))
        .map(|_| name);
    let legacy = legacy_dashboard(cloudwatch, guard).await?;
    Ok(current.into_iter().chain(legacy).collect())
}

/// Executes the plan's actions in order. A failed action does not stop the others: each
/// serves its own control, and every result is reported. Only a rename's deletes wait for
/// what they follow: an old name is not deleted when its successor was not written.
pub async fn apply(
    apigateway: &impl ApiGateway,
    cloudwatch: &impl CloudWatch,
    plan: &Plan,
) -> Vec<Outcome> {
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(plan.actions.len());
    for action in &plan.actions {
        let failed = |control: Control| {
            outcomes
                .iter()
                .find(|o| o.result.is_err() && o.action.controls().contains(&control))
                .map(|o| {
                    AwsError::permanent(
                        "Rename",
                        "SuccessorNotWritten",
                        format!("kept until {} succeeds", o.action),
                    )
                })
        };
        let result = match action {
            Action::UpdateStage {
                kind,
                api_id,
                stage,
                changes,
                carried,
            } => {
                // A destination that was not made is not pointed at; the other settings still
                // go ahead.
                let no_destination = failed(Control::AccessLogging).is_some();
                let ops: Vec<_> = changes
                    .iter()
                    .filter(|c| !(no_destination && c.control == Control::AccessLogging))
                    .map(|c| c.op.clone())
                    .chain(carried.iter().cloned())
                    .collect();
                match ops.is_empty() {
                    true => Ok(()),
                    false => apigateway.update_stage(*kind, api_id, stage, &ops).await,
                }
            }
            Action::CreateLogGroup {
                name,
                retention_days,
                tags,
            } => {
                cloudwatch
                    .create_log_group(name, *retention_days, tags)
                    .await
            }
            Action::PutRetention {
                name,
                retention_days,
                ..
            } => cloudwatch.put_retention(name, *retention_days).await,
            Action::DisableAccessLogs { api_id, stage } => {
                apigateway.disable_access_logs(api_id, stage).await
            }
            Action::UpdateUsagePlan {
                usage_plan_id,
                changes,
            } => {
                let ops: Vec<_> = changes.iter().map(|c| c.op.clone()).collect();
                apigateway.update_usage_plan(usage_plan_id, &ops).await
            }
            Action::PutAlarm { alarm, tags, .. } => cloudwatch.put_alarm(alarm, tags).await,
            Action::TagAlarm { arn, tags, .. } => cloudwatch.tag_alarm(arn, tags).await,
            Action::DeleteAlarms { names, .. } => cloudwatch.delete_alarms(names).await,
            Action::PutDashboard { name, body, .. } => cloudwatch.put_dashboard(name, body).await,
            Action::DeleteDashboards { names } => cloudwatch.delete_dashboards(names).await,
            Action::RetireAlarms { names } => match failed(Control::Alarms) {
                Some(err) => Err(err),
                None => cloudwatch.delete_alarms(names).await,
            },
            Action::RetireDashboard { name } => match failed(Control::Dashboard) {
                Some(err) => Err(err),
                None => {
                    cloudwatch
                        .delete_dashboards(std::slice::from_ref(name))
                        .await
                }
            },
        };
        outcomes.push(Outcome {
            action: action.clone(),
            result,
        });
    }
    outcomes
}

/// Observe, plan and, unless planning only or the guard is suspended, apply.
pub async fn reconcile(
    apigateway: &impl ApiGateway,
    cloudwatch: &impl CloudWatch,
    guard: &GuardId,
    spec: &ApiGatewayGuardSpec,
    mode: Mode,
) -> Report {
    reconcile_claimed(apigateway, cloudwatch, guard, spec, mode, |_| None, None).await
}

/// Whether the tenancy rules allow what the guard would touch: its REST API and, when it
/// manages a usage plan's throttle, every API the plan serves (from the shared listing).
async fn check_tenancy(
    apigateway: &impl ApiGateway,
    tenancy: &Tenancy,
    observed: &Observed,
) -> Result<(), AwsError> {
    tenancy.check_api(&observed.api)?;
    if let Some(Ok(plan)) = &observed.usage_plan {
        let mut apis = Vec::new();
        for (api_id, _) in &plan.api_stages {
            let by = ResourceRef {
                id: Some(api_id.clone()),
                name: None,
            };
            // Usage plans serve REST APIs' stages alone.
            match apigateway.find_api(ApiKind::Rest, &by).await {
                Ok(api) => apis.push(api),
                Err(err) if err.code == "NotFoundException" => {}
                Err(err) => return Err(err),
            }
        }
        tenancy.check_plan(plan, &apis)?;
    }
    Ok(())
}

/// Why a guard writes nothing to a stage the older guard `winner` (`namespace/name`) holds,
/// and what ends it. `policies` are the policies that keep the winner and this guard, if any:
/// a policy gives its guard up on its own at its next discovery (an explicit guard takes
/// precedence over a policy's, an older policy over a newer one), so only two explicit guards
/// need someone to delete one.
pub fn conflict(winner: &str, policies: (Option<&str>, Option<&str>)) -> String {
    let held = format!("guard {winner} is older and guards it");
    match policies {
        (None, None) => format!("{held}; delete one of the two guards"),
        (Some(theirs), None) => format!(
            "{held}, but a guard written by hand takes precedence over a policy's: policy \
             {theirs} deletes {winner} at its next discovery, and this guard takes the stage"
        ),
        (None, Some(ours)) => format!(
            "{held}, and a guard written by hand takes precedence over a policy's: policy \
             {ours} deletes this guard at its next discovery"
        ),
        (Some(theirs), Some(ours)) if theirs == ours => format!(
            "{held}; policy {ours} keeps one guard per stage and deletes the other at its next \
             discovery"
        ),
        (Some(theirs), Some(ours)) => format!(
            "{held}; the newer of policies {theirs} and {ours} gives the stage up at its next \
             discovery"
        ),
    }
}

/// [`reconcile`], unless `older_guard` says why another guard holds the same stage (given the
/// REST API as AWS resolved it; see [`conflict`]): then the stage is that guard's, and this
/// one writes nothing and reports a permanent Conflict with that message. With `tenancy` (the guard acts through an
/// AwsAccount), the role must reach the account it names and the guard may touch only the
/// REST APIs the account allows, checked on a fresh read before any write.
pub async fn reconcile_claimed(
    apigateway: &impl ApiGateway,
    cloudwatch: &impl CloudWatch,
    guard: &GuardId,
    spec: &ApiGatewayGuardSpec,
    mode: Mode,
    older_guard: impl Fn(&crate::core::model::GuardedApi) -> Option<String>,
    tenancy: Option<&Tenancy>,
) -> Report {
    // What the CRD cannot check (and what a file bypassing the cluster might hold) is refused
    // before any AWS call.
    let mut invalid = validate(spec);
    invalid.extend(validate_alarm_names(guard));
    if !invalid.is_empty() {
        let source = AwsError::check("InvalidSpec", invalid.join("; "));
        return Report::refused(guard, "the spec".to_owned(), source);
    }
    // The account first: nothing is read or written through a role that reached another.
    let account_id = match account_reached(cloudwatch, guard, tenancy).await {
        Ok(id) => id,
        Err(refused) => return *refused,
    };
    // Boxed: the whole reconcile future stays small enough for a test thread.
    let observed = Box::pin(observe(apigateway, cloudwatch, guard, spec)).await;
    let observed = match (observed, tenancy) {
        (Ok(observed), Some(tenancy)) => {
            match check_tenancy(apigateway, tenancy, &observed).await {
                Ok(()) => Ok(observed),
                Err(source) => Err(ObserveError {
                    what: format!("AwsAccount {}", tenancy.account),
                    source,
                }),
            }
        }
        (observed, _) => observed,
    };
    let mut observed = observed.and_then(|observed| match older_guard(&observed.api) {
        None => Ok(observed),
        Some(why) => Err(ObserveError {
            what: format!(
                "stage {:?} of {} {:?} ({})",
                spec.stage,
                observed.api.kind.noun(),
                observed.api.name,
                observed.api.id
            ),
            source: AwsError::check(CONFLICT, why),
        }),
    });
    let plan = match observed.as_mut() {
        // Boxed: the reconcile future stays small enough for a test thread.
        Ok(observed) => match Box::pin(plan_on_fresh_reads(
            apigateway, cloudwatch, guard, spec, observed,
        ))
        .await
        {
            Ok(plan) => plan,
            Err(refused) => return *refused,
        },
        Err(_) => Plan::default(),
    };
    let writes = mode == Mode::Apply && !spec.controls.suspend && !plan.actions.is_empty();
    // The API's tags may have changed since the listing: an account's rules are checked on a
    // fresh read before every write, so a tag removed in AWS revokes the guard at once.
    if let (true, Some(tenancy), Ok(observed)) = (writes, tenancy, &observed) {
        let fresh = apigateway
            .get_api(observed.api.kind, &observed.api.id)
            .await;
        if let Err(source) = fresh.and_then(|api| tenancy.check_api(&api)) {
            let mut report =
                Report::refused(guard, format!("AwsAccount {}", tenancy.account), source);
            report.account_id = account_id;
            return report;
        }
    }
    let outcomes = match writes {
        false => Vec::new(),
        true => apply(apigateway, cloudwatch, &plan).await,
    };
    // Verification reads what the stage serves now, after this reconcile's writes; a plan
    // (dry run) does not need it.
    let metrics = match (&observed, mode) {
        (Ok(observed), Mode::Apply) => Some(
            cloudwatch
                .stage_metrics(&observed.api.metric_stage(&spec.stage))
                .await,
        ),
        _ => None,
    };
    let objective = match (&observed, &spec.controls.slo, mode) {
        (Ok(observed), Some(slo), Mode::Apply) => cloudwatch
            .objective_metrics(&observed.api.metric_stage(&spec.stage), slo.window_days)
            .await
            .transpose(),
        _ => None,
    };
    Report {
        guard: guard.clone(),
        observed,
        plan,
        outcomes,
        metrics,
        objective,
        deployment: None,
        account_id,
    }
}

/// The account the guard's AwsAccount role reached (STS), checked against the account the
/// AwsAccount names; `None` for the operator's own identity. A refusal is the whole report.
async fn account_reached(
    cloudwatch: &impl CloudWatch,
    guard: &GuardId,
    tenancy: Option<&Tenancy>,
) -> Result<Option<String>, Box<Report>> {
    let Some(tenancy) = tenancy else {
        return Ok(None);
    };
    let what = format!("AwsAccount {}", tenancy.account);
    let id = match cloudwatch.account_id().await {
        Ok(id) => id,
        Err(source) => return Err(Box::new(Report::refused(guard, what, source))),
    };
    if let Err(source) = tenancy.check_reached(&id) {
        let mut report = Report::refused(guard, what, source);
        report.account_id = Some(id);
        return Err(Box::new(report));
    }
    Ok(Some(id))
}

/// The plan for what was observed, made again on fresh reads of whatever it would write to:
/// alarms may have been read from a shared listing up to a window old and their tags not at
/// all, a log group is listed without tags, a dashboard's marker says whose it is, and route
/// keys are kept up to an hour. A failed read of the alarms refuses the reconcile (the whole
/// report); another failed read blocks only its own control.
async fn plan_on_fresh_reads(
    apigateway: &impl ApiGateway,
    cloudwatch: &impl CloudWatch,
    guard: &GuardId,
    spec: &ApiGatewayGuardSpec,
    observed: &mut Observed,
) -> Result<Plan, Box<Report>> {
    let first = plan(guard, spec, observed);
    // Alarms may have been read from a shared listing up to a window old, and their
    // tags not at all; who owns an alarm is decided on a fresh read, tags included,
    // before anything writes to it: the tags of the alarms the plan writes, and of
    // those under a first name (the guard's to rename only if its tags say so).
    let legacy = guard.legacy_alarm_names();
    let mut with_tags = owners_unread(&first, observed);
    with_tags.extend(
        observed
            .alarms
            .iter()
            .filter(|(alarm, tags)| tags.is_none() && legacy.contains(&alarm.name))
            .map(|(alarm, _)| alarm.name.clone()),
    );
    let refresh_alarms = !spec.controls.suspend
        && ((touches(&first, Control::Alarms) && cloudwatch.forget(&guard.known_alarm_names()))
            || !with_tags.is_empty());
    // So are the log group (listed without tags; a group someone else made is never
    // changed) and the dashboard (its marker says whose it is) before a write to them.
    let log_group_tags_unread = matches!(
        &observed.log_group,
        Some(Ok(group)) if group.found.as_ref().is_some_and(|found| found.tags.is_none())
    );
    let refresh_log_group = log_group_written(&first).filter(|name| {
        !spec.controls.suspend && (cloudwatch.forget_log_group(name) || log_group_tags_unread)
    });
    let refresh_dashboard = spec.controls.dashboard.as_ref().filter(|_| {
        !spec.controls.suspend
            && touches(&first, Control::Dashboard)
            && cloudwatch
                .forget_dashboards(&[guard.dashboard_name(), guard.legacy_dashboard_name()])
    });
    // The route keys are kept up to an hour; an UpdateStage naming a route is planned
    // on keys at most a window old.
    let refresh_routes = !spec.controls.suspend
        && names_routes(&first)
        && apigateway.forget_route_keys(&observed.api.id);
    // Boxed: they keep the whole reconcile future small enough for a test thread.
    let (alarms, log_group, dashboard, route_keys) = tokio::join!(
        Box::pin(async {
            match refresh_alarms {
                true => Some(observe_alarms(cloudwatch, guard, &with_tags).await),
                false => None,
            }
        }),
        Box::pin(async {
            match refresh_log_group {
                Some(name) => Some(cloudwatch.log_group(name).await),
                None => None,
            }
        }),
        Box::pin(async {
            match refresh_dashboard {
                Some(wanted) => Some(observe_dashboard(cloudwatch, guard, wanted.enabled).await),
                None => None,
            }
        }),
        Box::pin(async {
            match refresh_routes {
                true => Some(apigateway.route_keys(&observed.api.id).await),
                false => None,
            }
        }),
    );
    let refreshed =
        alarms.is_some() || log_group.is_some() || dashboard.is_some() || route_keys.is_some();
    if route_keys.is_some() {
        observed.route_keys = route_keys;
    }
    match alarms {
        Some(Ok(alarms)) => observed.alarms = alarms,
        Some(Err(source)) => {
            let ObserveError { what, source } = alarms_error(guard, source);
            return Err(Box::new(Report::refused(guard, what, source)));
        }
        None => {}
    }
    // A failed read stays in what was observed, blocking only its own control.
    if let Some(group) = log_group {
        observed.log_group = Some(group);
    }
    if let Some(dashboard) = dashboard {
        observed.dashboard = Some(dashboard);
    }
    let replanned = match refreshed {
        false => first,
        true => plan(guard, spec, observed),
    };
    // The fresh read may have shown alarms to write that the first plan did not.
    let unread = owners_unread(&replanned, observed);
    if unread.is_empty() || spec.controls.suspend {
        return Ok(replanned);
    }
    // Boxed: the reconcile future stays small enough for a test thread.
    match Box::pin(observe_alarms(cloudwatch, guard, &unread)).await {
        Ok(alarms) => {
            observed.alarms = alarms;
            Ok(plan(guard, spec, observed))
        }
        Err(source) => {
            let ObserveError { what, source } = alarms_error(guard, source);
            Err(Box::new(Report::refused(guard, what, source)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::VecDeque;
    use std::sync::Mutex;

    use crate::core::model::{
        AccessLog, AlarmConfig, GuardedApi, LogGroup, ObjectiveMetrics, ObservedLogGroup, PatchOp,
        StageKey, StageMetrics, StageSettings, UsagePlan, access_log_group_name,
    };

    const ARN: &str = "arn:aws:logs:us-east-1:123456789012:log-group:";

    /// One HTTP API stage whose access logs already go to the guard's group, and what AWS has
    /// of that group and of the guard's dashboard. Reads are recorded; a write is a bug here
    /// (the tests plan only).
    struct Aws {
        /// The group's retention and tags, when it exists.
        group: Option<(Option<i32>, Vec<Tag>)>,
        /// What successive reads of the guard's dashboard answer (the last one stays).
        dashboards: Mutex<VecDeque<Option<String>>>,
        reads: Mutex<Vec<&'static str>>,
    }

    impl Aws {
        fn new(group: Option<(Option<i32>, Vec<Tag>)>, dashboards: &[Option<&str>]) -> Self {
            Self {
                group,
                dashboards: Mutex::new(dashboards.iter().map(|d| d.map(str::to_owned)).collect()),
                reads: Mutex::default(),
            }
        }

        fn read(&self, what: &'static str) {
            self.reads.lock().unwrap().push(what);
        }

        fn reads(&self) -> Vec<&'static str> {
            self.reads.lock().unwrap().clone()
        }

        fn group(&self, name: &str, tags: bool) -> ObservedLogGroup {
            ObservedLogGroup {
                arn: format!("{ARN}{name}"),
                found: self.group.clone().map(|(retention_days, t)| LogGroup {
                    name: name.to_owned(),
                    retention_days,
                    tags: tags.then_some(t),
                }),
            }
        }
    }

    fn api() -> GuardedApi {
        GuardedApi {
            kind: ApiKind::Http,
            id: "h1".to_owned(),
            name: "orders".to_owned(),
            tags: Default::default(),
        }
    }

    impl ApiGateway for Aws {
        async fn find_api(&self, _: ApiKind, _: &ResourceRef) -> Result<GuardedApi, AwsError> {
            Ok(api())
        }
        async fn list_apis(&self, _: ApiKind) -> Result<Vec<GuardedApi>, AwsError> {
            unreachable!()
        }
        async fn stage_names(&self, _: ApiKind, _: &str) -> Result<Vec<String>, AwsError> {
            unreachable!()
        }
        async fn get_api(&self, _: ApiKind, _: &str) -> Result<GuardedApi, AwsError> {
            unreachable!()
        }
        async fn get_stage(&self, _: ApiKind, _: &str, _: &str) -> Result<StageSettings, AwsError> {
            Ok(StageSettings {
                access_log: Some(AccessLog {
                    destination_arn: format!("{ARN}{}", access_log_group_name("h1", "$default")),
                    format: ApiKind::Http.profile().access_log_format(),
                }),
                ..StageSettings::default()
            })
        }
        async fn update_stage(
            &self,
            _: ApiKind,
            _: &str,
            _: &str,
            _: &[PatchOp],
        ) -> Result<(), AwsError> {
            unreachable!()
        }
        async fn roll_back_stage(
            &self,
            _: ApiKind,
            _: &str,
            _: &str,
            _: &str,
        ) -> Result<(), AwsError> {
            unreachable!()
        }
        async fn deployment_made(
            &self,
            _: ApiKind,
            _: &str,
            _: &str,
        ) -> Result<Option<i64>, AwsError> {
            unreachable!()
        }
        async fn route_keys(&self, _: &str) -> Result<Vec<String>, AwsError> {
            unreachable!()
        }
        async fn disable_access_logs(&self, _: &str, _: &str) -> Result<(), AwsError> {
            unreachable!()
        }
        async fn find_usage_plan(&self, _: &ResourceRef) -> Result<UsagePlan, AwsError> {
            unreachable!()
        }
        async fn update_usage_plan(&self, _: &str, _: &[PatchOp]) -> Result<(), AwsError> {
            unreachable!()
        }
        async fn cloudwatch_role_arn(&self) -> Result<Option<String>, AwsError> {
            unreachable!()
        }
    }

    impl CloudWatch for Aws {
        async fn describe_alarms(&self, _: &[String]) -> Result<Vec<ObservedAlarm>, AwsError> {
            Ok(Vec::new())
        }
        async fn list_tags(&self, _: &str) -> Result<Vec<Tag>, AwsError> {
            unreachable!()
        }
        async fn put_alarm(&self, _: &AlarmConfig, _: &[Tag]) -> Result<(), AwsError> {
            unreachable!()
        }
        async fn tag_alarm(&self, _: &str, _: &[Tag]) -> Result<(), AwsError> {
            unreachable!()
        }
        async fn delete_alarms(&self, _: &[String]) -> Result<(), AwsError> {
            unreachable!()
        }
        async fn stage_metrics(&self, _: &StageKey) -> Result<StageMetrics, AwsError> {
            unreachable!()
        }
        async fn objective_metrics(
            &self,
            _: &StageKey,
            _: i32,
        ) -> Result<Option<ObjectiveMetrics>, AwsError> {
            unreachable!()
        }
        async fn deployment_metrics(
            &self,
            _: &StageKey,
            _: i64,
            _: i64,
        ) -> Result<(StageMetrics, StageMetrics), AwsError> {
            unreachable!()
        }
        fn region(&self) -> &str {
            "us-east-1"
        }
        async fn account_id(&self) -> Result<String, AwsError> {
            Ok("123456789012".to_owned())
        }
        async fn get_dashboard(&self, name: &str) -> Result<Option<String>, AwsError> {
            if name.ends_with("-orders") {
                // The first name: none.
                return Ok(None);
            }
            self.read("GetDashboard");
            let mut answers = self.dashboards.lock().unwrap();
            Ok(match answers.len() {
                0 | 1 => answers.front().cloned().flatten(),
                _ => answers.pop_front().flatten(),
            })
        }
        async fn put_dashboard(&self, _: &str, _: &str) -> Result<(), AwsError> {
            unreachable!()
        }
        async fn delete_dashboards(&self, _: &[String]) -> Result<(), AwsError> {
            unreachable!()
        }
        fn forget_dashboards(&self, _: &[String]) -> bool {
            true
        }
        async fn log_group(&self, name: &str) -> Result<ObservedLogGroup, AwsError> {
            self.read("log group with tags");
            Ok(self.group(name, true))
        }
        async fn listed_log_group(&self, name: &str) -> Result<ObservedLogGroup, AwsError> {
            self.read("listed log group");
            Ok(self.group(name, false))
        }
        fn forget_log_group(&self, _: &str) -> bool {
            true
        }
        async fn create_log_group(&self, _: &str, _: i32, _: &[Tag]) -> Result<(), AwsError> {
            unreachable!()
        }
        async fn put_retention(&self, _: &str, _: i32) -> Result<(), AwsError> {
            unreachable!()
        }
        async fn delete_log_group(&self, _: &str) -> Result<(), AwsError> {
            unreachable!()
        }
    }

    fn guard() -> GuardId {
        GuardId {
            namespace: "team".to_owned(),
            name: "orders".to_owned(),
        }
    }

    async fn planned(aws: &Aws, yaml: &str) -> Plan {
        let spec: ApiGatewayGuardSpec =
            serde_yaml::from_str(&format!("httpApi: {{id: h1}}\nstage: $default\n{yaml}")).unwrap();
        let report = Box::pin(reconcile(aws, aws, &guard(), &spec, Mode::Plan)).await;
        assert!(report.observed.is_ok(), "{report:#?}");
        report.plan
    }

    #[tokio::test]
    async fn a_listed_log_group_is_read_with_its_tags_before_its_retention_is_changed() {
        let logging = "accessLogging: {retentionDays: 90}";
        let ours = Aws::new(Some((Some(30), guard().tags())), &[]);
        let plan = planned(&ours, logging).await;
        assert_eq!(
            plan.actions,
            [Action::PutRetention {
                name: access_log_group_name("h1", "$default"),
                retention_days: 90,
                from: Some(30),
            }]
        );
        assert_eq!(ours.reads(), ["listed log group", "log group with tags"]);

        // Someone else's group under the guard's name: the fresh read says so, and nothing
        // is written to it.
        let theirs = vec![("team".to_owned(), "platform".to_owned())];
        let theirs = Aws::new(Some((Some(7), theirs)), &[]);
        assert!(planned(&theirs, logging).await.is_in_sync());
        assert_eq!(theirs.reads(), ["listed log group", "log group with tags"]);

        // A group as wanted costs the listing only, and a missing one is read again before
        // it is made.
        let in_sync = Aws::new(Some((Some(90), guard().tags())), &[]);
        assert!(planned(&in_sync, logging).await.is_in_sync());
        assert_eq!(in_sync.reads(), ["listed log group"]);
        let missing = Aws::new(None, &[]);
        let plan = planned(&missing, logging).await;
        assert!(matches!(plan.actions[0], Action::CreateLogGroup { .. }));
        assert_eq!(missing.reads(), ["listed log group", "log group with tags"]);
    }

    #[tokio::test]
    async fn a_dashboard_is_read_afresh_before_it_is_written() {
        // The listing says there is none; by the time of the fresh read someone else made
        // one of the name: it is left alone.
        let foreign = r#"{"widgets":[]}"#;
        let aws = Aws::new(None, &[None, Some(foreign)]);
        let plan = planned(&aws, "dashboard: {}").await;
        assert!(plan.actions.is_empty(), "{:#?}", plan.actions);
        assert_eq!(plan.blockers[0].reason, "Conflict");
        assert_eq!(aws.reads(), ["GetDashboard", "GetDashboard"]);
        // Still none: it is made.
        let aws = Aws::new(None, &[None]);
        let plan = planned(&aws, "dashboard: {}").await;
        assert!(matches!(plan.actions[..], [Action::PutDashboard { .. }]));
    }

    #[test]
    fn only_two_guards_written_by_hand_need_someone_to_delete_one() {
        let by_hand = conflict("a/first", (None, None));
        assert!(
            by_hand.ends_with("delete one of the two guards"),
            "{by_hand}"
        );
        let policy_holds = conflict("a/child", (Some("a/fleet"), None));
        assert!(
            policy_holds.contains("policy a/fleet deletes a/child at its next discovery"),
            "{policy_holds}"
        );
        let by_hand_holds = conflict("a/first", (None, Some("a/fleet")));
        assert!(
            by_hand_holds.contains("policy a/fleet deletes this guard at its next discovery"),
            "{by_hand_holds}"
        );
        let two_policies = conflict("a/child", (Some("a/old"), Some("b/new")));
        assert!(
            two_policies.contains("the newer of policies a/old and b/new gives the stage up"),
            "{two_policies}"
        );
        for message in [policy_holds, by_hand_holds, two_policies] {
            assert!(!message.contains("delete one"), "{message}");
        }
    }
}
