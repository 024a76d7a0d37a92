//! CloudTrail events, as EventBridge delivers them to SQS, read for what they touch; pure.
//! An "AWS API Call via CloudTrail" event names the call (`detail.eventName`) and its
//! parameters (`detail.requestParameters`); a "CloudWatch Alarm State Change" names an alarm.
//! REST API (v1) and HTTP API (v2) calls share the event source and several names
//! (`UpdateStage`, `CreateDeployment`, `TagResource`, ...): their parameters tell them apart.

use serde_json::Value;

use crate::core::crd::ApiGatewayGuard;
use crate::core::kind::Service;
use crate::core::model::{ApiKind, GuardId};

/// What one event says changed, and where.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// The account the call was made in (`detail.recipientAccountId`, else `account`).
    pub account: String,
    pub region: String,
    /// The API call, or `AlarmStateChange`.
    pub event: String,
    pub touches: Touches,
    /// Made through the operator's own role session: its own write coming back, not drift.
    pub own: bool,
}

/// What a change touches.
#[derive(Clone, Debug, PartialEq)]
pub enum Touches {
    /// Stages of an API: one, or every one (`None`: the whole API, or its routes, changed).
    Stages {
        service: Service,
        api_id: String,
        stage: Option<String>,
    },
    /// A stage that may be new (created or deployed): its guards, and the policies that may
    /// now match it.
    NewStage {
        service: Service,
        api_id: String,
        stage: String,
    },
    /// An API made, retagged or removed: policies may now match more or less, and the guards
    /// of it (when its id is known) reconcile.
    Api {
        service: Service,
        api_id: Option<String>,
    },
    /// A usage plan's throttle or stages.
    UsagePlan { id: String },
    /// Alarms by name.
    Alarms { names: Vec<String> },
    /// Dashboards by name.
    Dashboards { names: Vec<String> },
    /// The account's API Gateway settings (UpdateAccount: the CloudWatch Logs role): every
    /// guard of the account and region.
    Account,
}

/// Why a message could not be read as an event.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("not an EventBridge event from CloudTrail or CloudWatch: {0}")]
pub struct Malformed(pub String);

fn text<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(Value::as_str)
}

/// Reads one SQS message body. `Ok(None)`: a well-formed event of something the operator
/// does not keep (read-only calls, other services). `session` is the operator's role session
/// name, as CloudTrail records it in `userIdentity.arn`.
pub fn parse(body: &str, session: &str) -> Result<Option<Change>, Malformed> {
    let event: Value =
        serde_json::from_str(body).map_err(|e| Malformed(format!("not JSON: {e}")))?;
    let detail_type =
        text(&event, &["detail-type"]).ok_or_else(|| Malformed("no detail-type".to_owned()))?;
    let detail = event
        .get("detail")
        .filter(|d| d.is_object())
        .ok_or_else(|| Malformed("no detail".to_owned()))?;
    let region = text(detail, &["awsRegion"])
        .or_else(|| text(&event, &["region"]))
        .ok_or_else(|| Malformed("no region".to_owned()))?;
    let account = text(detail, &["recipientAccountId"])
        .or_else(|| text(&event, &["account"]))
        .ok_or_else(|| Malformed("no account".to_owned()))?;
    let change = |event: &str, touches: Touches| Change {
        account: account.to_owned(),
        region: region.to_owned(),
        event: event.to_owned(),
        touches,
        own: text(detail, &["userIdentity", "arn"]).is_some_and(|arn| {
            arn.contains(":assumed-role/") && arn.rsplit('/').next() == Some(session)
        }),
    };
    match detail_type {
        "CloudWatch Alarm State Change" => {
            let name = text(detail, &["alarmName"])
                .ok_or_else(|| Malformed("an alarm state change without alarmName".to_owned()))?;
            Ok(Some(change(
                "AlarmStateChange",
                Touches::Alarms {
                    names: vec![name.to_owned()],
                },
            )))
        }
        "AWS API Call via CloudTrail" => {
            let name = text(detail, &["eventName"])
                .ok_or_else(|| Malformed("a CloudTrail event without eventName".to_owned()))?;
            let empty = Value::Null;
            let params = detail.get("requestParameters").unwrap_or(&empty);
            Ok(touches(name, params, detail).map(|t| change(name, t)))
        }
        _ => Ok(None),
    }
}

/// The API a call names and its service: REST API calls name it `restApiId`, v2 calls (HTTP
/// and WebSocket APIs alike) `apiId`. Ids are unique only within a service, so the service
/// goes wherever the id goes; which v2 kind an id is, the guards naming it say.
fn api(params: &Value) -> Option<(Service, String)> {
    let id = |key: &str| text(params, &[key]).map(str::to_owned);
    id("restApiId")
        .map(|id| (Service::V1, id))
        .or_else(|| id("apiId").map(|id| (Service::V2, id)))
}

/// What the call `name` with `params` touches; `None` for calls the operator does not keep.
fn touches(name: &str, params: &Value, detail: &Value) -> Option<Touches> {
    // A create call's input is recorded nested in an object named after the call, or at the
    // top of the parameters; either is taken.
    let stage = |input: &str| {
        text(params, &[input, "stageName"])
            .or_else(|| text(params, &["stageName"]))
            .map(str::to_owned)
    };
    let stages = |stage: Option<String>| {
        let (service, api_id) = api(params)?;
        Some(Touches::Stages {
            service,
            api_id,
            stage,
        })
    };
    let new_stage = |stage: String| {
        let (service, api_id) = api(params)?;
        Some(Touches::NewStage {
            service,
            api_id,
            stage,
        })
    };
    let created = |service: Service, key: &str| Touches::Api {
        service,
        api_id: text(detail, &["responseElements", key]).map(str::to_owned),
    };
    match name {
        // An HTTP API stage's access logs and route settings are removed by calls of their own.
        "UpdateStage" | "DeleteStage" | "DeleteAccessLogSettings" | "DeleteRouteSettings" => {
            stages(text(params, &["stageName"]).map(str::to_owned))
        }
        // A deployment to no stage changes nothing a guard keeps.
        "CreateDeployment" => new_stage(stage("createDeploymentInput")?),
        "CreateStage" => new_stage(stage("createStageInput")?),
        // The whole API changed, or its routes, by whose keys an HTTP API's stages keep route
        // settings (per-route throttles).
        "UpdateRestApi" | "DeleteRestApi" | "PutRestApi" | "UpdateApi" | "DeleteApi"
        | "ReimportApi" | "CreateRoute" | "UpdateRoute" | "DeleteRoute" => stages(None),
        "CreateRestApi" | "ImportRestApi" => Some(created(Service::V1, "id")),
        "CreateApi" | "ImportApi" => Some(created(Service::V2, "apiId")),
        "TagResource" | "UntagResource" => {
            let arn = text(params, &["resourceArn"])?;
            let (_, path) = arn.split_once("::")?;
            let (service, id) = match path.trim_start_matches('/').split('/').collect::<Vec<_>>()[..]
            {
                ["restapis", id] => (Service::V1, id),
                ["apis", id] => (Service::V2, id),
                _ => return None,
            };
            Some(Touches::Api {
                service,
                api_id: Some(id.to_owned()),
            })
        }
        "CreateUsagePlan" => None,
        "UpdateUsagePlan" | "DeleteUsagePlan" => Some(Touches::UsagePlan {
            id: text(params, &["usagePlanId"])?.to_owned(),
        }),
        "UpdateAccount" => Some(Touches::Account),
        "PutMetricAlarm" | "PutCompositeAlarm" => Some(Touches::Alarms {
            names: vec![text(params, &["alarmName"])?.to_owned()],
        }),
        "DeleteAlarms" | "DisableAlarmActions" | "EnableAlarmActions" => Some(Touches::Alarms {
            names: strings(params.get("alarmNames")?),
        }),
        "PutDashboard" => Some(Touches::Dashboards {
            names: vec![text(params, &["dashboardName"])?.to_owned()],
        }),
        "DeleteDashboards" => Some(Touches::Dashboards {
            names: strings(params.get("dashboardNames")?),
        }),
        _ => None,
    }
}

fn strings(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

impl Change {
    /// Whether the change concerns `guard`, which acts in `region` (as the operator resolves
    /// its spec) and, when known, `account`: by its API (of its own kind) and stage, usage
    /// plan, alarm and dashboard names, or (for account settings) at all.
    pub fn concerns(&self, guard: &ApiGatewayGuard, region: &str, account: Option<&str>) -> bool {
        if region != self.region || account.is_some_and(|a| a != self.account) {
            return false;
        }
        let status = guard.status.as_ref();
        let id = GuardId {
            namespace: guard.metadata.namespace.clone().unwrap_or_default(),
            name: guard.metadata.name.clone().unwrap_or_default(),
        };
        match &self.touches {
            Touches::Stages {
                service,
                api_id,
                stage,
            } => {
                names(guard, *service, api_id)
                    && stage.as_ref().is_none_or(|s| *s == guard.spec.stage)
            }
            Touches::NewStage {
                service,
                api_id,
                stage,
            } => names(guard, *service, api_id) && *stage == guard.spec.stage,
            Touches::Api { service, api_id } => api_id
                .as_deref()
                .is_some_and(|api_id| names(guard, *service, api_id)),
            Touches::UsagePlan { id } => {
                status.and_then(|s| s.usage_plan_id.as_deref()) == Some(id.as_str())
            }
            Touches::Alarms { names } => {
                let own = id.known_alarm_names();
                names.iter().any(|n| own.contains(n))
            }
            Touches::Dashboards { names } => {
                names.contains(&id.dashboard_name()) || names.contains(&id.legacy_dashboard_name())
            }
            Touches::Account => true,
        }
    }

    /// Whether a policy discovering APIs of `kinds` in `region` may now match more or fewer
    /// stages: a stage or API of one of those kinds made, renamed or removed, or an API's tags
    /// changed.
    pub fn may_change_matches(&self, region: &str, kinds: &[ApiKind]) -> bool {
        const MATCHING: [&str; 13] = [
            "CreateDeployment",
            "CreateStage",
            "DeleteStage",
            "CreateRestApi",
            "ImportRestApi",
            "DeleteRestApi",
            "UpdateRestApi",
            "CreateApi",
            "ImportApi",
            "DeleteApi",
            "UpdateApi",
            "TagResource",
            "UntagResource",
        ];
        let service = match &self.touches {
            Touches::Stages { service, .. }
            | Touches::NewStage { service, .. }
            | Touches::Api { service, .. } => *service,
            _ => return false,
        };
        region == self.region
            && kinds.iter().any(|kind| kind.profile().service == service)
            && MATCHING.contains(&self.event.as_str())
    }
}

/// Whether `guard` names the API `api_id` of `service` (of whichever of its kinds).
fn names(guard: &ApiGatewayGuard, service: Service, api_id: &str) -> bool {
    guard.spec.api().is_some_and(|(kind, _)| {
        kind.profile().service == service && guard.names_api(kind, Some(api_id), None)
    })
}

#[cfg(test)]
pub(crate) mod tests;
