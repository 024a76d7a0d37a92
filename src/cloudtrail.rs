//! CloudTrail events, as EventBridge delivers them to SQS, read for what they touch; pure.
//! An "AWS API Call via CloudTrail" event names the call (`detail.eventName`) and its
//! parameters (`detail.requestParameters`); a "CloudWatch Alarm State Change" names an alarm.

use serde_json::Value;

use crate::crd::ApiGatewayGuard;
use crate::model::GuardId;

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
    /// Stages of a REST API: one, or every one (`None`: the whole API changed).
    Stages {
        api_id: String,
        stage: Option<String>,
    },
    /// A stage that may be new (created or deployed): its guards, and the policies that may
    /// now match it.
    NewStage { api_id: String, stage: String },
    /// A REST API made, retagged or removed: policies may now match more or less, and the
    /// guards of it (when its id is known) reconcile.
    Api { api_id: Option<String> },
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

/// What the call `name` with `params` touches; `None` for calls the operator does not keep.
fn touches(name: &str, params: &Value, detail: &Value) -> Option<Touches> {
    let api_id = || text(params, &["restApiId"]).map(str::to_owned);
    let stage = |path: &[&str]| text(params, path).map(str::to_owned);
    match name {
        "UpdateStage" | "DeleteStage" => Some(Touches::Stages {
            api_id: api_id()?,
            stage: stage(&["stageName"]),
        }),
        // The stage is recorded inside the call's input object; a top-level one is taken too.
        "CreateDeployment" => {
            match stage(&["createDeploymentInput", "stageName"]).or_else(|| stage(&["stageName"])) {
                Some(stage) => Some(Touches::NewStage {
                    api_id: api_id()?,
                    stage,
                }),
                // A deployment to no stage changes nothing a guard keeps.
                None => None,
            }
        }
        "CreateStage" => Some(Touches::NewStage {
            api_id: api_id()?,
            stage: stage(&["createStageInput", "stageName"]).or_else(|| stage(&["stageName"]))?,
        }),
        "UpdateRestApi" | "DeleteRestApi" | "PutRestApi" => Some(Touches::Stages {
            api_id: api_id()?,
            stage: None,
        }),
        "CreateRestApi" | "ImportRestApi" => Some(Touches::Api {
            api_id: text(detail, &["responseElements", "id"]).map(str::to_owned),
        }),
        "TagResource" | "UntagResource" => {
            let arn = text(params, &["resourceArn"])?;
            let (_, path) = arn.split_once("::")?;
            match path.trim_start_matches('/').split('/').collect::<Vec<_>>()[..] {
                ["restapis", id] => Some(Touches::Api {
                    api_id: Some(id.to_owned()),
                }),
                _ => None,
            }
        }
        "CreateUsagePlan" => None,
        "UpdateUsagePlan" | "DeleteUsagePlan" => Some(Touches::UsagePlan {
            id: text(params, &["usagePlanId"])?.to_owned(),
        }),
        "UpdateAccount" => Some(Touches::Account),
        "PutMetricAlarm" => Some(Touches::Alarms {
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
    /// its spec) and, when known, `account`: by its REST API and stage, usage plan, alarm and
    /// dashboard names, or (for account settings) at all.
    pub fn concerns(&self, guard: &ApiGatewayGuard, region: &str, account: Option<&str>) -> bool {
        if region != self.region || account.is_some_and(|a| a != self.account) {
            return false;
        }
        let status = guard.status.as_ref();
        let api =
            status
                .and_then(|s| s.rest_api_id.as_deref())
                .or(guard.spec.rest_api.id.as_deref());
        let id = GuardId {
            namespace: guard.metadata.namespace.clone().unwrap_or_default(),
            name: guard.metadata.name.clone().unwrap_or_default(),
        };
        match &self.touches {
            Touches::Stages { api_id, stage } => {
                api == Some(api_id.as_str())
                    && stage.as_ref().is_none_or(|s| *s == guard.spec.stage)
            }
            Touches::NewStage { api_id, stage } => {
                api == Some(api_id.as_str()) && *stage == guard.spec.stage
            }
            Touches::Api { api_id } => api_id.is_some() && api == api_id.as_deref(),
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

    /// Whether a policy discovering in `region` may now match more or fewer stages: a stage
    /// or REST API made or removed, or an API's tags changed.
    pub fn may_change_matches(&self, region: &str) -> bool {
        const MATCHING: [&str; 9] = [
            "CreateDeployment",
            "CreateStage",
            "DeleteStage",
            "CreateRestApi",
            "ImportRestApi",
            "DeleteRestApi",
            "UpdateRestApi",
            "TagResource",
            "UntagResource",
        ];
        region == self.region && MATCHING.contains(&self.event.as_str())
    }
}

#[cfg(test)]
pub(crate) mod tests;
