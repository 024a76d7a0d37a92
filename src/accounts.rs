//! The AwsAccount controller: assumes each account's role and reports the account it reaches,
//! so `kubectl get awsaccounts` says which accounts the operator can act in before any guard
//! tries.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use tracing::warn;

use crate::aws::{CallLog, CloudWatch, RegionalClients};
use crate::crd::{AwsAccount, AwsAccountStatus};
use crate::status::{cond, now, settle};
use crate::telemetry::Metrics;
use crate::tenancy::{self, Tenancy};

/// The status field manager, as for guards.
const FIELD_MANAGER: &str = "apigw-guard";
/// How soon a role that could not be assumed for a passing reason is tried again.
const RETRY: Duration = Duration::from_secs(30);

/// What every account reconcile shares.
pub struct Context {
    pub client: Client,
    pub aws: RegionalClients,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// How often a working role is assumed again, to notice a trust policy that changed.
    pub resync: Duration,
}

/// The account's status from one attempt: the account STS says the role reached, or why the
/// role could not be used.
pub fn build_status(
    account: &AwsAccount,
    reached: &Result<String, crate::model::AwsError>,
    now: &str,
) -> AwsAccountStatus {
    let generation = account.metadata.generation;
    let tenancy = Tenancy::of(account);
    let checked = reached
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|id| tenancy.check_reached(id));
    let mut conditions = match &checked {
        Ok(()) => {
            let message = format!(
                "the operator acts in account {} through {}",
                tenancy.role_account, account.spec.role_arn
            );
            vec![
                cond("Ready", true, "RoleAssumed", &message),
                cond("Reconciling", false, "RoleAssumed", ""),
                cond("Stalled", false, "RoleAssumed", ""),
            ]
        }
        Err(err) => {
            let message = format!("{}: {}", err.code, err.message);
            let reason = match err.code.as_str() {
                tenancy::ACCOUNT_MISMATCH => tenancy::ACCOUNT_MISMATCH,
                _ => "AssumeRoleFailed",
            };
            vec![
                cond("Ready", false, reason, &message),
                cond("Reconciling", err.retryable, reason, &message),
                cond("Stalled", !err.retryable, reason, &message),
            ]
        }
    };
    let previous = account.status.as_ref().map_or(&[][..], |s| &s.conditions);
    settle(&mut conditions, previous, generation, now);
    AwsAccountStatus {
        observed_generation: generation,
        conditions,
        account_id: reached.as_ref().ok().cloned(),
    }
}

/// Assumes the role (STS AssumeRole through the SDK's provider) and asks STS who it is.
pub async fn reconcile(account: Arc<AwsAccount>, ctx: Arc<Context>) -> Result<Action, kube::Error> {
    let (identity, _) = tenancy::access(Some(&account));
    let calls = CallLog::default();
    // Not the shared clients: those keep the account id for the process, and this check is
    // the one that must ask again.
    let (_, cloudwatch) = ctx.aws.per_guard_clients(&identity, None, &calls).await;
    let reached = cloudwatch.account_id().await;
    ctx.metrics.aws_calls(&calls.snapshot());
    let status = build_status(&account, &reached, &now());
    let ready = status
        .conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    let previous = account.status.as_ref();
    let was_ready = previous.is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    });
    let reason = |s: &AwsAccountStatus| {
        s.conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .map(|c| (c.reason.clone(), c.message.clone()))
    };
    if previous.and_then(reason) != reason(&status) || ready != was_ready {
        let (why, note) = reason(&status).unwrap_or_default();
        let event = Event {
            type_: if ready {
                EventType::Normal
            } else {
                EventType::Warning
            },
            reason: why,
            note: Some(note),
            action: "AssumeRole".to_owned(),
            secondary: None,
        };
        if let Err(err) = ctx.recorder.publish(&event, &account.object_ref(&())).await {
            warn!(error = %err, "could not publish event");
        }
    }
    if previous != Some(&status) {
        let patch = serde_json::json!({
            "apiVersion": AwsAccount::api_version(&()),
            "kind": AwsAccount::kind(&()),
            "status": status,
        });
        Api::<AwsAccount>::all(ctx.client.clone())
            .patch_status(
                &account.name_any(),
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await?;
    }
    let retryable = status
        .conditions
        .iter()
        .any(|c| c.type_ == "Reconciling" && c.status == "True");
    Ok(Action::requeue(if retryable { RETRY } else { ctx.resync }))
}

fn error_policy(_: Arc<AwsAccount>, error: &kube::Error, _: Arc<Context>) -> Action {
    warn!(error = %error, "AwsAccount reconcile failed");
    Action::requeue(RETRY)
}

/// Runs the AwsAccount controller until `shutdown` completes.
pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let api = Api::<AwsAccount>::all(ctx.client.clone());
    Controller::new(api, watcher::Config::default())
        .with_config(ControllerConfig::default().concurrency(2))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(error = %err, "account controller event");
            }
        })
        .await;
}
