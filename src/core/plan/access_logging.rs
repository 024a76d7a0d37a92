//! Access logs as JSON lines with what `diagnose` reads, to a log group the guard makes
//! (tagged, with its retention) or one the spec names.

use crate::core::crd::ApiGatewayGuardSpec;
use crate::core::kind::StageSettingsShape;
use crate::core::model::{GuardId, Observed, PatchOp, access_log_group_name};
use crate::core::plan::control::{Declared, StageEvent};
use crate::core::plan::{Action, Blocker, Change, Control, Draft, change};

pub(super) const DECLARED: Declared = Declared {
    section: "accessLogging",
    condition: "AccessLogging",
    asked: |c| c.access_logging.is_some(),
    stage_event: StageEvent::Updated("AccessLoggingUpdated"),
    summary: "access logs as JSON lines with what the diagnosis reads, to a log group the \
              operator makes (tagged, retention 30 days by default) or one you name \
              (`spec.accessLogging`)",
    step,
    cost: None,
};

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

fn step(guard: &GuardId, spec: &ApiGatewayGuardSpec, observed: &Observed, draft: &mut Draft) {
    let changes = stage_changes(guard, spec, observed, draft);
    draft.stage.extend(changes);
}

/// Keeps the stage's access logs: the log group made (and its retention kept) when this guard
/// owns it or it is missing, then the stage's destination and format. A group someone else
/// made is written to and never changed (its tags are read before any write to it). Returns
/// the stage changes; log group writes go ahead of the UpdateStage that needs the group.
fn stage_changes(
    guard: &GuardId,
    spec: &ApiGatewayGuardSpec,
    observed: &Observed,
    draft: &mut Draft,
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
                draft.ahead.push(Action::DisableAccessLogs {
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
        draft.blockers.push(Blocker {
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
            draft.blockers.push(Blocker {
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
        None => draft.ahead.push(Action::CreateLogGroup {
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
            draft.ahead.push(Action::PutRetention {
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
