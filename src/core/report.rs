//! What one reconcile of a guard saw, planned and did, and what it leaves to retry and when:
//! the record the controller and the CLI each turn into status, events and output.

use std::time::Duration;

use crate::core::crd::DeploymentStatus;
use crate::core::model::{AwsError, GuardId, ObjectiveMetrics, Observed, StageMetrics};
use crate::core::plan::{Action, Plan};

/// The condition reason of a guard whose stage another guard holds.
pub const CONFLICT: &str = "Conflict";

/// Reading AWS failed for something every control needs (the REST API or the stage).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{what}: {source}")]
pub struct ObserveError {
    /// The missing or unreadable thing, as the guard names it.
    pub what: String,
    #[source]
    pub source: AwsError,
}

/// What one reconcile saw, planned and did.
#[derive(Debug, Clone)]
pub struct Report {
    pub guard: GuardId,
    pub observed: Result<Observed, ObserveError>,
    pub plan: Plan,
    /// One per applied action, in order; empty for a dry run.
    pub outcomes: Vec<Outcome>,
    /// The stage's metrics over the last window; `None` when not read (a dry run, or AWS
    /// could not be read).
    pub metrics: Option<Result<StageMetrics, AwsError>>,
    /// The stage's errors and requests over its objective's window; `None` when not read (no
    /// objective, a dry run, or not yet: a stage new to a shared read joins the next one).
    pub objective: Option<Result<ObjectiveMetrics, AwsError>>,
    /// The stage's deployment and its verification; `None` when the spec verifies none or
    /// the stage could not be read.
    pub deployment: Option<DeploymentReport>,
    /// The account an AwsAccount's role reached (STS); `None` for the operator's own
    /// identity, or when it could not be read.
    pub account_id: Option<String>,
}

impl Report {
    /// A reconcile stopped before it wrote anything: `what` could not be had.
    pub fn refused(guard: &GuardId, what: String, source: AwsError) -> Self {
        Report {
            guard: guard.clone(),
            observed: Err(ObserveError { what, source }),
            plan: Plan::default(),
            outcomes: Vec::new(),
            metrics: None,
            objective: None,
            deployment: None,
            account_id: None,
        }
    }

    /// What failed among the applied actions.
    pub fn failures(&self) -> impl Iterator<Item = &AwsError> {
        self.outcomes.iter().filter_map(|o| o.result.as_ref().err())
    }

    /// When a change queued under a slow quota (UpdateUsagePlan) gets its turn: the longest
    /// wait it was given; `None` when nothing waits in line.
    pub fn queued_turn(&self) -> Option<Duration> {
        self.failures()
            .filter(|e| e.is_queued())
            .filter_map(|e| e.retry_after)
            .max()
    }

    /// Whether the only thing left to retry is a call queued under a slow quota: waiting in
    /// line is not a failure to back off from.
    pub fn waits_only_for_a_turn(&self) -> bool {
        self.failures().any(|e| e.is_queued())
            && self.failures().all(|e| e.is_queued() || !e.retryable)
            && self.plan.blockers.iter().all(|b| !b.retryable)
    }

    /// When waiting may fix what failed (throttling, AWS 5xx, a network fault): the longest
    /// wait AWS asked for, zero when it asked none. `None` when nothing retryable failed.
    pub fn retryable_failure(&self) -> Option<Duration> {
        let errors: Vec<&AwsError> = match &self.observed {
            Err(err) => vec![&err.source],
            Ok(_) => self.failures().collect(),
        };
        let retryable =
            errors.iter().any(|e| e.retryable) || self.plan.blockers.iter().any(|b| b.retryable);
        retryable.then(|| {
            errors
                .iter()
                .filter_map(|e| e.retry_after)
                .max()
                .unwrap_or_default()
        })
    }
}

/// A deployment's verification in one reconcile: its status after it, and the rollback's
/// result when one was written.
#[derive(Debug, Clone)]
pub struct DeploymentReport {
    pub status: DeploymentStatus,
    /// The UpdateStage that pointed the stage back: to which deployment, and how it went.
    pub rollback: Option<(String, Result<(), AwsError>)>,
}

/// The result of one applied action.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub action: Action,
    pub result: Result<(), AwsError>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fixtures;
    use crate::core::plan::Blocker;
    use crate::core::plan::control::Control;

    fn report(errors: Vec<AwsError>, blockers: Vec<Blocker>) -> Report {
        let guard = fixtures::guard_id("ns", "g");
        let outcomes = errors
            .into_iter()
            .map(|err| Outcome {
                action: crate::core::plan::Action::DeleteAlarms {
                    control: crate::core::plan::control::Control::Alarms,
                    names: Vec::new(),
                },
                result: Err(err),
            })
            .collect();
        let observed = fixtures::observed(crate::core::model::ApiKind::Rest, "id", "api");
        Report {
            guard,
            observed: Ok(observed),
            plan: Plan {
                actions: Vec::new(),
                blockers,
            },
            outcomes,
            metrics: None,
            objective: None,
            deployment: None,
            account_id: None,
        }
    }

    fn throttled(after: Option<u64>) -> AwsError {
        AwsError {
            operation: "UpdateUsagePlan",
            code: "TooManyRequestsException".to_owned(),
            message: "slow down".to_owned(),
            retryable: true,
            retry_after: after.map(Duration::from_secs),
        }
    }

    #[test]
    fn retry_after_from_aws_sets_the_floor_of_the_wait() {
        let report = report(vec![throttled(Some(20)), throttled(Some(3))], Vec::new());
        assert_eq!(report.queued_turn(), None, "throttled is not queued");
        assert_eq!(report.retryable_failure(), Some(Duration::from_secs(20)));
        let report = self::report(vec![throttled(None)], Vec::new());
        assert_eq!(report.retryable_failure(), Some(Duration::ZERO));
    }

    #[test]
    fn a_queued_call_comes_back_at_its_turn_unless_something_else_needs_a_retry() {
        let queued = AwsError::queued(
            "UpdateUsagePlan",
            &crate::aws::Booked {
                wait: Duration::from_secs(260),
                ahead: 12,
                limit: crate::aws::Limit {
                    per_second: 0.05,
                    burst: 1,
                },
            },
        );
        let alone = report(vec![queued.clone()], Vec::new());
        assert!(alone.waits_only_for_a_turn());
        assert_eq!(alone.queued_turn(), Some(Duration::from_secs(260)));
        assert_eq!(alone.retryable_failure(), Some(Duration::from_secs(260)));
        let denied = AwsError::permanent("PutMetricAlarm", "AccessDeniedException", "no");
        assert!((report(vec![queued.clone(), denied], Vec::new())).waits_only_for_a_turn());
        assert!(
            !(report(vec![queued, throttled(None)], Vec::new())).waits_only_for_a_turn(),
            "a throttled call backs off as usual"
        );
        assert!(!(report(vec![throttled(None)], Vec::new())).waits_only_for_a_turn());
    }

    #[test]
    fn permanent_failures_wait_for_the_resync() {
        let denied = AwsError::permanent("UpdateStage", "AccessDeniedException", "no");
        assert_eq!((report(vec![denied], Vec::new())).retryable_failure(), None);
        let blocker = Blocker {
            control: Control::ExecutionLogging,
            reason: "CloudWatchRoleMissing".to_owned(),
            message: String::new(),
            retryable: false,
        };
        assert_eq!(
            (report(Vec::new(), vec![blocker.clone()])).retryable_failure(),
            None
        );
        let retryable = Blocker {
            retryable: true,
            ..blocker
        };
        assert_eq!(
            (report(Vec::new(), vec![retryable])).retryable_failure(),
            Some(Duration::ZERO)
        );
        let mut unreadable = report(Vec::new(), Vec::new());
        unreadable.observed = Err(ObserveError {
            what: "stage".to_owned(),
            source: throttled(Some(9)),
        });
        assert_eq!(unreadable.retryable_failure(), Some(Duration::from_secs(9)));
    }
}
