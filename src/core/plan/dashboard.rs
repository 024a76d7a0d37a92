//! A CloudWatch dashboard of the runbook's Step 1 metrics beside the guard's alarms.

use crate::core::crd::ApiGatewayGuardSpec;
use crate::core::dashboard;
use crate::core::model::{GuardId, GuardedApi, OWNER_TAG, Observed};
use crate::core::plan::control::{Declared, StageEvent};
use crate::core::plan::cost::{MonthlyCost, PRICES};
use crate::core::plan::{Action, Blocker, Control, Draft};

pub(super) const DECLARED: Declared = Declared {
    section: "dashboard",
    condition: "Dashboard",
    asked: |c| c.dashboard.is_some(),
    stage_event: StageEvent::NotAStageSetting,
    summary: "a CloudWatch dashboard of the runbook's Step 1 metrics beside the alarms \
              (optional, `spec.dashboard`)",
    step,
    cost: Some(cost),
};

/// One dashboard, beyond the account's free ones.
fn cost(_: &GuardId, spec: &ApiGatewayGuardSpec, _: &GuardedApi) -> MonthlyCost {
    let enabled = spec.controls.dashboard.as_ref().is_some_and(|d| d.enabled);
    MonthlyCost {
        dashboards: usize::from(enabled),
        dashboards_usd: if enabled { PRICES.dashboard } else { 0.0 },
        ..MonthlyCost::default()
    }
}

/// Keeps the guard's dashboard: created, put back when its body differs in meaning, deleted
/// (when this guard's) once disabled. A dashboard of the name that this guard's marker does
/// not mark is someone else's and never written.
fn step(guard: &GuardId, spec: &ApiGatewayGuardSpec, observed: &Observed, draft: &mut Draft) {
    let (Some(wanted), Some(read)) = (&spec.controls.dashboard, &observed.dashboard) else {
        return;
    };
    let name = guard.dashboard_name();
    let found = match read {
        Ok(found) => found,
        Err(err) => {
            draft.blockers.push(Blocker {
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
            draft.after.push(Action::DeleteDashboards { names });
        }
        return;
    }
    // The same dashboard under its first name: written anew under this one, then deleted.
    let retire = found
        .legacy
        .clone()
        .map(|name| Action::RetireDashboard { name });
    if let Some(owner) = owner.filter(|_| !ours) {
        draft.blockers.push(Blocker {
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
                draft.after.extend(retire);
                return;
            }
            dashboard::differing_widgets(&want, &have)
        }
    };
    draft.after.push(Action::PutDashboard {
        name,
        body: want.to_string(),
        diff,
    });
    draft.after.extend(retire);
}
