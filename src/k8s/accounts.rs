//! The AwsAccount controller: assumes each account's role and reports the account it reaches,
//! so `kubectl get awsaccounts` says which accounts the operator can act in before any guard
//! tries; and holds an account's deletion while guards still name it, since a guard's cleanup
//! (removing its alarms) goes through the account's role.

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};

use crate::aws::{CallLog, CloudWatch, RegionalClients};
use crate::core::crd::{
    ApiGatewayGuard, AwsAccount, AwsAccountStatus, READY, RECONCILING, condition, holds,
};
use crate::core::status::{Standing, kstatus, now, settle};
use crate::core::tenancy::{self, Tenancy};
use crate::k8s::recorder::Recorder;
use crate::k8s::telemetry::Metrics;
use crate::k8s::toolkit::{
    Error, FIELD_MANAGER, Retry, event, publish_about, run_to_end, write_status,
};

/// Held on every AwsAccount while guards name it.
pub const IN_USE: &str = "apigw-guard.dev/in-use";

/// What every account reconcile shares.
pub struct Context {
    pub client: Client,
    pub aws: RegionalClients,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// How often a working role is assumed again, to notice a trust policy that changed.
    pub resync: Duration,
    /// When a role that could not be assumed for a passing reason is tried again.
    pub retry: Retry,
}

/// The account's status from one attempt: the account STS says the role reached, or why the
/// role could not be used.
pub fn build_status(
    account: &AwsAccount,
    reached: &Result<String, crate::core::model::AwsError>,
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
            kstatus(Standing::Ready, "RoleAssumed", &message)
        }
        Err(err) => {
            let message = format!("{}: {}", err.code, err.message);
            let reason = match err.code.as_str() {
                tenancy::ACCOUNT_MISMATCH => tenancy::ACCOUNT_MISMATCH,
                _ => "AssumeRoleFailed",
            };
            let retryable = err.retryable;
            kstatus(Standing::Failed { retryable }, reason, &message)
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

/// The finalizer first, then verify the role, or (on delete) wait for its guards to go.
pub async fn reconcile(account: Arc<AwsAccount>, ctx: Arc<Context>) -> Result<Action, Error> {
    let api = Api::<AwsAccount>::all(ctx.client.clone());
    finalizer(&api, IN_USE, account, |event| async {
        match event {
            finalizer::Event::Apply(account) => verify(account, &ctx).await,
            finalizer::Event::Cleanup(account) => release(&account, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

/// Guards (in every namespace) that name `account`, as `namespace/name`.
pub fn guards_naming(account: &str, guards: &[ApiGatewayGuard]) -> Vec<String> {
    let mut names: Vec<String> = guards
        .iter()
        .filter(|g| g.spec.account.as_deref() == Some(account))
        .map(|g| format!("{}/{}", g.namespace().unwrap_or_default(), g.name_any()))
        .collect();
    names.sort();
    names
}

/// Lets a deleted account go once no guard names it; until then says which guards hold it.
async fn release(account: &AwsAccount, ctx: &Context) -> Result<Action, Error> {
    let guards = Api::<ApiGatewayGuard>::all(ctx.client.clone())
        .list(&Default::default())
        .await?;
    let holding = guards_naming(&account.name_any(), &guards.items);
    if holding.is_empty() {
        return Ok(Action::await_change());
    }
    let shown: Vec<&str> = holding.iter().take(5).map(String::as_str).collect();
    let message = format!(
        "{} guard(s) still name this account and clean up through its role: {}{}; it is \
         deleted once they are",
        holding.len(),
        shown.join(", "),
        if holding.len() > shown.len() {
            ", ..."
        } else {
            ""
        }
    );
    let mut conditions = kstatus(Standing::Progressing, "InUse", &message);
    let previous = account.status.clone().unwrap_or_default();
    settle(
        &mut conditions,
        &previous.conditions,
        account.metadata.generation,
        &now(),
    );
    let status = AwsAccountStatus {
        conditions,
        ..previous.clone()
    };
    if status != previous {
        let note = event(EventType::Normal, "InUse", "AssumeRole", message);
        publish_about(&ctx.recorder, account, &note).await;
        patch_status(ctx, account, &status).await?;
    }
    // The finalizer stays while cleanup fails; the guards' own deletion is what is waited for.
    Err(Error::InUse(holding.len()))
}

/// Writes the account's status, unless it already is `status`.
async fn patch_status(
    ctx: &Context,
    account: &AwsAccount,
    status: &AwsAccountStatus,
) -> Result<bool, kube::Error> {
    let api = Api::<AwsAccount>::all(ctx.client.clone());
    let previous = account.status.as_ref();
    write_status(&api, &account.name_any(), FIELD_MANAGER, (previous, status)).await
}

/// Assumes the role (STS AssumeRole through the SDK's provider) and asks STS who it is.
async fn verify(account: Arc<AwsAccount>, ctx: &Context) -> Result<Action, Error> {
    let (identity, _) = tenancy::access(Some(&account));
    let calls = CallLog::default();
    // Not the shared clients: those keep the account id for the process, and this check is
    // the one that must ask again.
    let (_, cloudwatch) = ctx.aws.per_guard_clients(&identity, None, &calls).await;
    let reached = cloudwatch.account_id().await;
    ctx.metrics.aws_calls(&calls.snapshot());
    let status = build_status(&account, &reached, &now());
    let ready = holds(&status.conditions, READY);
    let previous = account.status.as_ref();
    let was_ready = previous.is_some_and(|s| holds(&s.conditions, READY));
    let reason = |s: &AwsAccountStatus| {
        condition(&s.conditions, READY).map(|c| (c.reason.clone(), c.message.clone()))
    };
    if previous.and_then(reason) != reason(&status) || ready != was_ready {
        let (why, note) = reason(&status).unwrap_or_default();
        let type_ = match ready {
            true => EventType::Normal,
            false => EventType::Warning,
        };
        let note = event(type_, &why, "AssumeRole", note);
        publish_about(&ctx.recorder, &*account, &note).await;
    }
    patch_status(ctx, &account, &status).await?;
    let name = account.name_any();
    match holds(&status.conditions, RECONCILING) {
        true => Ok(Action::requeue(ctx.retry.failed(&name))),
        false => {
            ctx.retry.succeeded(&name);
            Ok(Action::requeue(ctx.resync))
        }
    }
}

fn error_policy(account: Arc<AwsAccount>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.retry
        .after("the AwsAccount", &account.name_any(), error)
}

/// Runs the AwsAccount controller until `shutdown` completes.
pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let api = Api::<AwsAccount>::all(ctx.client.clone());
    let results = Controller::new(api, watcher::Config::default())
        .with_config(ControllerConfig::default().concurrency(2))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx);
    run_to_end(results, "account controller").await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::AwsError;

    fn account() -> AwsAccount {
        let mut account: AwsAccount = serde_yaml::from_str(
            "apiVersion: apigw-guard.dev/v1alpha1
kind: AwsAccount
metadata: {name: pay, generation: 3}
spec:
  roleArn: arn:aws:iam::111122223333:role/apigw-guard
  namespaceSelector: {}
",
        )
        .unwrap();
        account.status = None;
        account
    }

    fn ready(status: &AwsAccountStatus) -> (String, String) {
        let c = status
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        (c.status.clone(), c.reason.clone())
    }

    #[test]
    fn the_account_reached_makes_it_ready_or_stalls_it() {
        let ok = build_status(&account(), &Ok("111122223333".to_owned()), "t1");
        assert_eq!(ready(&ok), ("True".to_owned(), "RoleAssumed".to_owned()));
        assert_eq!(ok.account_id.as_deref(), Some("111122223333"));
        assert_eq!(ok.observed_generation, Some(3));
        assert!(
            ok.conditions
                .iter()
                .all(|c| c.observed_generation == Some(3))
        );

        let elsewhere = build_status(&account(), &Ok("999999999999".to_owned()), "t1");
        assert_eq!(ready(&elsewhere).1, "AccountMismatch");
        assert_eq!(elsewhere.account_id.as_deref(), Some("999999999999"));
        let stalled = elsewhere.conditions.iter().find(|c| c.type_ == "Stalled");
        assert_eq!(stalled.unwrap().status, "True");

        let denied = AwsError::permanent("GetCallerIdentity", "AccessDenied", "not trusted");
        let refused = build_status(&account(), &Err(denied), "t1");
        assert_eq!(ready(&refused).1, "AssumeRoleFailed");
        assert!(refused.account_id.is_none());
        let throttled = AwsError {
            retryable: true,
            ..AwsError::permanent("GetCallerIdentity", "Throttling", "slow down")
        };
        let retrying = build_status(&account(), &Err(throttled), "t1");
        let reconciling = retrying
            .conditions
            .iter()
            .find(|c| c.type_ == "Reconciling");
        assert_eq!(
            reconciling.unwrap().status,
            "True",
            "a passing failure is retried"
        );
    }

    #[test]
    fn transition_times_hold_while_the_state_does() {
        let mut held = account();
        held.status = Some(build_status(&held, &Ok("111122223333".to_owned()), "t1"));
        let again = build_status(&held, &Ok("111122223333".to_owned()), "t2");
        assert_eq!(
            Some(&again),
            held.status.as_ref(),
            "nothing changed: nothing to patch"
        );
    }

    #[test]
    fn only_the_guards_naming_the_account_hold_it() {
        let guard = |ns: &str, name: &str, account: Option<&str>| {
            let mut guard: ApiGatewayGuard = serde_yaml::from_str(&format!(
                "apiVersion: apigw-guard.dev/v1alpha1
kind: ApiGatewayGuard
metadata: {{name: {name}, namespace: {ns}}}
spec: {{restApi: {{name: a}}, stage: prod}}
"
            ))
            .unwrap();
            guard.spec.account = account.map(str::to_owned);
            guard
        };
        let guards = [
            guard("b", "two", Some("pay")),
            guard("a", "one", Some("pay")),
            guard("a", "other", Some("sandbox")),
            guard("a", "own", None),
        ];
        assert_eq!(guards_naming("pay", &guards), ["a/one", "b/two"]);
        assert!(guards_naming("gone", &guards).is_empty());
    }
}
