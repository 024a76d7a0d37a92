//! Builders the core's tests share, so each test states only what it is about: a guard's id,
//! a stage as AWS first makes it, the report of a reconcile.

use crate::core::crd::ApiGatewayGuardSpec;
use crate::core::kind::Section;
use crate::core::model::{ApiKind, AwsError, GuardId, GuardedApi, Observed, StageSettings};
use crate::core::plan::plan;
use crate::core::report::{Outcome, Report};

pub fn guard_id(namespace: &str, name: &str) -> GuardId {
    GuardId {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    }
}

/// A stage of the `kind` API `id` named `name`, in us-east-1, as AWS first makes it: tracing
/// off where the kind has tracing, nothing else set, no usage plan, no logging role read.
pub fn observed(kind: ApiKind, id: &str, name: &str) -> Observed {
    Observed {
        api: GuardedApi {
            kind,
            id: id.to_owned(),
            name: name.to_owned(),
            tags: Default::default(),
        },
        stage: StageSettings {
            tracing_enabled: kind.profile().has(Section::Tracing).then_some(false),
            ..Default::default()
        },
        usage_plan: None,
        cloudwatch_role_arn: None,
        alarms: Vec::new(),
        region: "us-east-1".to_owned(),
        dashboard: None,
        log_group: None,
        route_keys: None,
    }
}

/// The report of a reconcile of `guard` to `spec` on `observed` whose every planned action
/// ended with `result`.
pub fn report(
    guard: &GuardId,
    spec: &ApiGatewayGuardSpec,
    observed: Observed,
    result: Result<(), AwsError>,
) -> Report {
    let plan = plan(guard, spec, &observed);
    let outcomes = plan
        .actions
        .iter()
        .map(|action| Outcome {
            action: action.clone(),
            result: result.clone(),
        })
        .collect();
    Report {
        guard: guard.clone(),
        observed: Ok(observed),
        plan,
        outcomes,
        metrics: None,
        objective: None,
        deployment: None,
        account_id: None,
    }
}

/// A value the spec's `section` (a control's, as declared) takes, the least a spec can give.
pub fn section_value(section: &str) -> &'static str {
    match section {
        "detailedMetrics" => "true",
        "throttle" => "{usagePlan: {id: up1}, rateLimit: 1, burstLimit: 1}",
        "stageThrottle" => "{rateLimit: 1, burstLimit: 1}",
        "slo" => "{availability: 99.9}",
        "tracing" | "dashboard" | "accessLogging" => "{enabled: true}",
        _ => "{}",
    }
}
