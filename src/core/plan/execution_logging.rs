//! Execution logging for all methods (`/*/*/logging/loglevel`, `/*/*/logging/dataTrace`; a
//! WebSocket API's default route settings) and a REST API's detailed metrics beside it
//! (`/*/*/metrics/enabled`), with the account's CloudWatch Logs role as the prerequisite AWS
//! has for it.

use crate::core::crd::{ApiGatewayGuardSpec, LogLevel};
use crate::core::kind::Section;
use crate::core::model::{GuardId, Observed};
use crate::core::plan::control::{Declared, StageEvent};
use crate::core::plan::stage::{Setting, stage_path};
use crate::core::plan::{Blocker, Control, Draft, change};

pub(super) const DECLARED: Declared = Declared {
    section: "executionLogging",
    condition: "ExecutionLogging",
    asked: |c| c.execution_logging.is_some(),
    stage_event: StageEvent::Updated("ExecutionLoggingUpdated"),
    summary: "execution logging (and a REST API's detailed metrics) for all methods; a missing \
              account CloudWatch Logs role is reported, not failed into",
    step,
    cost: None,
};

fn step(_: &GuardId, spec: &ApiGatewayGuardSpec, observed: &Observed, draft: &mut Draft) {
    let methods = &observed.stage.all_methods;
    let Some(logging) = &spec.controls.execution_logging else {
        return;
    };
    let kind = observed.api.kind;
    // A kind whose detailed metrics are a control of their own (a WebSocket API's) leaves them
    // to it.
    let metrics = kind.profile().has(Section::ExecutionLoggingMetrics);
    let needs_role = logging.level != LogLevel::Off || logging.data_trace;
    if needs_role && observed.cloudwatch_role_arn.is_none() {
        draft.blockers.push(Blocker {
            control: Control::ExecutionLogging,
            reason: "CloudWatchRoleMissing".to_owned(),
            message: format!(
                "the account has no CloudWatch Logs role ARN in {region}, so API Gateway \
                 refuses execution logging; set it with `aws apigateway update-account \
                 --region {region} --patch-operations \
                 op=replace,path=/cloudwatchRoleArn,value=<role-arn>` (a role trusting \
                 apigateway.amazonaws.com with AmazonAPIGatewayPushToCloudWatchLogs){}",
                if metrics && logging.detailed_metrics {
                    "; detailed metrics are still applied"
                } else {
                    ""
                },
                region = observed.region
            ),
            retryable: false,
        });
    } else {
        // Absent default settings mean logging OFF and data trace off.
        let level = methods.logging_level.as_deref().unwrap_or("OFF");
        if level != logging.level.as_aws() {
            draft.stage.push(change(
                Control::ExecutionLogging,
                &stage_path(kind, None, Setting::LogLevel),
                logging.level.as_aws().to_owned(),
                methods.logging_level.clone(),
            ));
        }
        if methods.data_trace.unwrap_or(false) != logging.data_trace {
            draft.stage.push(change(
                Control::ExecutionLogging,
                &stage_path(kind, None, Setting::DataTrace),
                logging.data_trace.to_string(),
                methods.data_trace.map(|b| b.to_string()),
            ));
        }
    }
    if metrics && methods.metrics.unwrap_or(false) != logging.detailed_metrics {
        draft.stage.push(change(
            Control::ExecutionLogging,
            &stage_path(kind, None, Setting::Metrics),
            logging.detailed_metrics.to_string(),
            methods.metrics.map(|b| b.to_string()),
        ));
    }
}
