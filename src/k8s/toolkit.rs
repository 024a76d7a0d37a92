//! What the guard, AwsAccount and policy controllers share: one error type (the label it is
//! counted and logged under, what it is in words), one retry policy, events and status writes.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::finalizer;
use kube::{Api, Resource};
use tracing::warn;

use crate::core::model::AwsError;
use crate::k8s::recorder::Recorder;

/// The server-side apply field manager of the guards' and the AwsAccounts' status.
pub const FIELD_MANAGER: &str = "apigw-guard";
/// First retry delay after a retryable failure; doubles per attempt up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How often a deleted object that others still need looks again whether they are gone.
const IN_USE_RECHECK: Duration = Duration::from_secs(10);

/// A failed reconcile of any of the three controllers; the variant names the metric label.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Finalizer(#[from] Box<finalizer::Error<Error>>),
    #[error("AWS: {0}")]
    Aws(#[from] AwsError),
    /// A deleted AwsAccount waits for the guards that name it: not a failure to back off from.
    #[error("{0} guard(s) still name it")]
    InUse(usize),
}

impl Error {
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::Finalizer(_) => "finalizer",
            Error::Aws(_) => "aws",
            Error::InUse(_) => "in_use",
        }
    }

    /// What failed underneath the finalizer's steps.
    fn cause(&self) -> &Error {
        match self {
            Error::Finalizer(inner) => match inner.as_ref() {
                finalizer::Error::ApplyFailed(err) | finalizer::Error::CleanupFailed(err) => {
                    err.cause()
                }
                _ => self,
            },
            other => other,
        }
    }

    /// What failed, as on-call reads it, of `object` ("the guard", "the AwsAccount"): the
    /// step, and the API server's own reason where it gave one (a 422 on the finalizer patch
    /// is the object failing the CRD's rules, say).
    pub fn in_words(&self, object: &str) -> String {
        let api = |err: &kube::Error| match err {
            kube::Error::Api(status) => format!(
                "the Kubernetes API server answered {} {}: {}",
                status.code, status.reason, status.message
            ),
            other => format!("the Kubernetes API server could not be reached or read: {other}"),
        };
        match self {
            Error::Kube(err) => format!("reading or writing {object} failed: {}", api(err)),
            Error::Finalizer(inner) => match inner.as_ref() {
                finalizer::Error::AddFinalizer(err) => {
                    format!("could not add the finalizer to {object}: {}", api(err))
                }
                finalizer::Error::RemoveFinalizer(err) => format!(
                    "could not remove the finalizer (the object stays until it is): {}",
                    api(err)
                ),
                finalizer::Error::ApplyFailed(err) => {
                    format!("reconciling {object} failed: {}", err.in_words(object))
                }
                finalizer::Error::CleanupFailed(err) => format!(
                    "cleaning up after the deleted object failed (it stays until done): {}",
                    err.in_words(object)
                ),
                finalizer::Error::UnnamedObject => format!("{object} has no name"),
                finalizer::Error::InvalidFinalizer => "the finalizer name is invalid".to_owned(),
            },
            Error::Aws(err) => format!("AWS answered {err}"),
            Error::InUse(n) => format!("{n} guard(s) still name it"),
        }
    }
}

/// One retry policy for the three controllers: an object whose reconcile failed for a
/// passing reason is tried again after 5 s, doubling to at most 5 min, with up to 25 % jitter
/// so objects that failed together do not retry together, and never sooner than AWS asked.
/// A success forgets the object's failures.
#[derive(Default)]
pub struct Retry {
    failures: Mutex<HashMap<String, u32>>,
}

impl Retry {
    /// The delay before trying `key` again after another retryable failure.
    pub fn failed(&self, key: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let attempt = failures.entry(key.to_owned()).or_insert(0);
        let jitter = std::collections::hash_map::RandomState::new().hash_one((key, *attempt)) % 250;
        let delay = backoff_delay(*attempt, u32::try_from(jitter).unwrap_or(0));
        *attempt += 1;
        delay
    }

    /// `key` reconciled: its next failure starts the backoff again.
    pub fn succeeded(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// The error policy of each controller: when `object` (`key`) is tried again after
    /// `error`, logged in words. A wait for others is not a failure: it is looked at again
    /// soon, without backing off.
    pub fn after(&self, object: &str, key: &str, error: &Error) -> Action {
        let wait = match error.cause() {
            Error::InUse(_) => IN_USE_RECHECK,
            Error::Aws(err) => self.failed(key).max(err.retry_after.unwrap_or_default()),
            _ => self.failed(key),
        };
        warn!(
            object = %key,
            error = %error,
            kind = error.metric_label(),
            "{}; tried again in {} s",
            error.in_words(object),
            wait.as_secs()
        );
        Action::requeue(wait)
    }
}

/// The delay after `attempt` earlier consecutive failures: 5 s doubling to at most 5 min, plus
/// `jitter_permille` thousandths of it.
fn backoff_delay(attempt: u32, jitter_permille: u32) -> Duration {
    let base = FIRST_BACKOFF
        .saturating_mul(1 << attempt.min(10))
        .min(MAX_BACKOFF);
    base + base * jitter_permille / 1000
}

/// Runs a controller's stream of results to its end (its shutdown); a failed reconcile was
/// told by its error policy already, so what the stream reports is logged at debug alone.
pub async fn run_to_end<T, E: std::fmt::Display>(
    results: impl futures::Stream<Item = Result<T, E>>,
    controller: &str,
) {
    results
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(error = %err, "{controller} event");
            }
        })
        .await;
}

/// An event a controller tells about its object: `action` is what it was doing (e.g.
/// AssumeRole, Discover, a guard's AWS call).
pub fn event(type_: EventType, reason: &str, action: &str, note: String) -> Event {
    Event {
        type_,
        reason: reason.to_owned(),
        note: Some(note),
        action: action.to_owned(),
        secondary: None,
    }
}

/// Publishes `event` about `object`. Events are for humans: a failure to publish one is
/// logged, never fails the reconcile.
pub async fn publish_about<K: Resource<DynamicType = ()>>(
    recorder: &Recorder,
    object: &K,
    event: &Event,
) {
    if let Err(err) = recorder.publish(event, &object.object_ref(&())).await {
        warn!(error = %err, reason = %event.reason, "could not publish event");
    }
}

/// Server-side applies `status` as the status of the object `name` of `api`, as
/// `field_manager`, unless it is `previous`: an unchanged fact is not written, since every
/// write wakes every watcher. True when it was written.
pub async fn write_status<K, S>(
    api: &Api<K>,
    name: &str,
    field_manager: &str,
    (previous, status): (Option<&S>, &S),
) -> Result<bool, kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: serde::Serialize + PartialEq,
{
    if previous == Some(status) {
        return Ok(false);
    }
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(field_manager).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failure at start-up reads as what failed and why, not as the error's debug form.
    #[test]
    fn a_failed_finalizer_patch_is_said_in_words() {
        let status = kube::core::Status {
            code: 422,
            reason: "Invalid".to_owned(),
            message: "ApiGatewayGuard \"g\" is invalid: spec.region: Invalid value".to_owned(),
            ..Default::default()
        };
        let error = Error::Finalizer(Box::new(finalizer::Error::AddFinalizer(kube::Error::Api(
            Box::new(status),
        ))));
        assert_eq!(
            error.in_words("the guard"),
            "could not add the finalizer to the guard: the Kubernetes API server answered 422 \
             Invalid: ApiGatewayGuard \"g\" is invalid: spec.region: Invalid value"
        );
    }

    #[test]
    fn backoff_doubles_up_to_five_minutes_with_bounded_jitter() {
        let delays: Vec<u64> = (0..8).map(|n| backoff_delay(n, 0).as_secs()).collect();
        assert_eq!(delays, [5, 10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(backoff_delay(40, 0), MAX_BACKOFF);
        assert_eq!(backoff_delay(1, 249), Duration::from_millis(12_490));
    }

    fn cleanup_failed(error: Error) -> Error {
        Error::Finalizer(Box::new(finalizer::Error::CleanupFailed(error)))
    }

    #[test]
    fn a_wait_for_others_is_not_backed_off_and_aws_sets_the_floor() {
        let retry = Retry::default();
        let requeue = |error: &Error| retry.after("the AwsAccount", "a", error);
        // Waiting for the guards that still name an account: looked at again soon, always.
        for _ in 0..3 {
            assert_eq!(
                requeue(&cleanup_failed(Error::InUse(2))),
                Action::requeue(IN_USE_RECHECK)
            );
        }
        // AWS asked for 400 s, more than any backoff: asked is what is waited.
        let throttled = AwsError {
            operation: "DeleteAlarms",
            code: "Throttling".to_owned(),
            message: "slow down".to_owned(),
            retryable: true,
            retry_after: Some(Duration::from_secs(400)),
        };
        assert_eq!(
            requeue(&cleanup_failed(Error::Aws(throttled))),
            Action::requeue(Duration::from_secs(400))
        );
        // The first failure of another object starts at the first backoff.
        let first = retry.failed("b");
        assert!(first >= FIRST_BACKOFF && first < FIRST_BACKOFF * 5 / 4);
        assert!(retry.failed("b") >= FIRST_BACKOFF * 2);
        retry.succeeded("b");
        assert!(
            retry.failed("b") < FIRST_BACKOFF * 5 / 4,
            "a success starts over"
        );
    }

    #[test]
    fn a_failure_under_the_finalizer_is_said_in_the_objects_words() {
        assert_eq!(
            cleanup_failed(Error::InUse(2)).in_words("the AwsAccount"),
            "cleaning up after the deleted object failed (it stays until done): 2 guard(s) \
             still name it"
        );
    }
}
