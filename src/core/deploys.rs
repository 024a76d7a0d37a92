//! A stage's deployments: noticing a new one, judging it over its verification window
//! against the same minutes before it (so an API that was already failing is not blamed on
//! the deploy), and deciding whether to roll it back. Pure.

use crate::core::crd::{CanaryStatus, DeploymentStatus, DeploymentsSpec, Rollback};
use crate::core::model::{ApiKind, StageDeployment, StageMetrics, millis};
use crate::core::runbook::{INTEGRATION_LATENCY_TARGET_MS, LATENCY_TARGET_MS};

/// Requests a window needs before its figures are judged: fewer cannot tell a regression
/// from chance.
pub const MIN_REQUESTS: f64 = 20.0;
/// The 5XX share a deployment may reach without an objective before it counts as a
/// regression (and it must also be twice the baseline's).
pub const ERROR_SHARE: f64 = 0.01;
/// How much slower than the baseline (and over the runbook's target) a p99 must be.
pub const SLOWER: f64 = 1.5;

/// The verdicts `DeploymentStatus::verdict` takes.
pub const BASELINE: &str = "Baseline";
pub const VERIFYING: &str = "Verifying";
pub const VERIFIED: &str = "Verified";
pub const REGRESSED: &str = "Regressed";
pub const ROLLED_BACK: &str = "RolledBack";

/// RFC 3339 of epoch seconds, as status writes times.
pub fn rfc3339(secs: i64) -> String {
    k8s_openapi::jiff::Timestamp::from_second(secs)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// Epoch seconds of an RFC 3339 time; `None` when it does not parse.
pub fn epoch(text: &str) -> Option<i64> {
    text.parse::<k8s_openapi::jiff::Timestamp>()
        .ok()
        .map(|t| t.as_second())
}

/// When deployments were made (GetDeployment's createdDate, epoch seconds), as far as AWS
/// said: the one the stage serves now and the one the status holds. A stage's lastUpdatedDate
/// is not it: any later stage change (a variable, a throttle, the operator's own writes)
/// moves that on, and a window started there takes the deploy's first errors for its
/// baseline.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Made {
    pub serving: Option<i64>,
    pub held: Option<i64>,
}

/// The deployment status after seeing the stage serve `observed` at `now`: the one the
/// guard first finds is the baseline (not verified); a different one than the status holds
/// starts a verification window from when it was made (not before the one it replaced took
/// the stage, never after now). A stage gone back to an earlier deployment (the one before
/// the status's, or one made before it) is a rollback, the operator's or someone's: not a
/// new deployment, never verified again. The same one keeps its status, the canary read
/// afresh; `regressed` only ever grows.
pub fn track(
    previous: Option<&DeploymentStatus>,
    observed: &StageDeployment,
    made: Made,
    now: i64,
) -> DeploymentStatus {
    let canary = observed.canary.as_ref().map(|canary| CanaryStatus {
        deployment_id: canary.deployment_id.clone(),
        percent_traffic: canary.percent_traffic,
    });
    let Some(previous) = previous else {
        return DeploymentStatus {
            id: observed.id.clone(),
            previous_id: None,
            since: rfc3339(made.serving.or(observed.updated_at).unwrap_or(now).min(now)),
            verdict: BASELINE.to_owned(),
            message: format!(
                "deployment {} was serving when the guard first looked; every deployment \
                 after it is verified",
                observed.id
            ),
            regressed: Vec::new(),
            canary,
        };
    };
    if previous.id == observed.id {
        return DeploymentStatus {
            canary,
            ..previous.clone()
        };
    }
    let back_to_previous = previous.previous_id.as_deref() == Some(observed.id.as_str());
    let made_before =
        matches!((made.serving, made.held), (Some(serving), Some(held)) if serving < held);
    if back_to_previous || made_before {
        let ours = back_to_previous && previous.regressed.contains(&previous.id);
        let (verdict, message) = match ours {
            true => (
                ROLLED_BACK,
                format!("rolled back from {} to {}", previous.id, observed.id),
            ),
            false => (
                BASELINE,
                format!(
                    "the stage went back from {} to {}, an earlier deployment: not verified \
                     again; every deployment after it is",
                    previous.id, observed.id
                ),
            ),
        };
        return DeploymentStatus {
            id: observed.id.clone(),
            previous_id: None,
            since: rfc3339(now),
            verdict: verdict.to_owned(),
            message,
            regressed: previous.regressed.clone(),
            canary,
        };
    }
    let earliest = epoch(&previous.since).unwrap_or(i64::MIN);
    let since = made.serving.unwrap_or(now).max(earliest).min(now);
    DeploymentStatus {
        id: observed.id.clone(),
        previous_id: Some(previous.id.clone()),
        since: rfc3339(since),
        verdict: VERIFYING.to_owned(),
        message: format!("new deployment {} (was {})", observed.id, previous.id),
        regressed: previous.regressed.clone(),
        canary,
    }
}

/// Where a deployment under verification stands.
#[derive(Clone, Debug, PartialEq)]
pub enum Judgement {
    Verifying { seconds_left: i64, message: String },
    Verified(String),
    Regressed(String),
}

/// Judges the deployment `status` verifies from the figures of its window so far and of the
/// same length before it. `allowed` is an objective's error share (its budget), which
/// replaces the 1 % a deployment may otherwise reach. A regression ends the window at once;
/// a window that ends with too little traffic is verified, and says so.
pub fn judge(
    kind: ApiKind,
    status: &DeploymentStatus,
    window_seconds: i64,
    now: i64,
    window: &StageMetrics,
    baseline: &StageMetrics,
    allowed: Option<f64>,
) -> Judgement {
    // The kind's own words: its errors (5XX, a WebSocket API's errors) of its requests or
    // messages, and Latency only where it publishes one.
    let names = &kind.profile().metrics;
    let traffic = names.traffic_label.to_lowercase();
    let since = epoch(&status.since).unwrap_or(now);
    let elapsed = (now - since).max(0);
    let requests = window.count.unwrap_or(0.0);
    let minutes = |secs: i64| (secs + 59) / 60;
    if requests >= MIN_REQUESTS
        && let Some(evidence) = regression(kind, window, baseline, allowed)
    {
        return Judgement::Regressed(format!(
            "{evidence}, in the {} minute(s) since {} took the stage at {}",
            minutes(elapsed),
            status.id,
            status.since
        ));
    }
    let latency = match names.latency {
        Some(_) => format!(", p99 Latency {}", millis(window.latency_p99)),
        None => String::new(),
    };
    let so_far = format!(
        "{requests} {traffic}, {} {}{latency}, p99 IntegrationLatency {}",
        window.five_xx.unwrap_or(0.0),
        names.server_errors_label,
        millis(window.integration_latency_p99)
    );
    if elapsed < window_seconds {
        let left = window_seconds - elapsed;
        return Judgement::Verifying {
            seconds_left: left,
            message: format!(
                "verifying {} for {} more minute(s): so far {so_far}",
                status.id,
                minutes(left)
            ),
        };
    }
    match requests < MIN_REQUESTS {
        true => Judgement::Verified(format!(
            "{} served its {} minute(s) with too little traffic to judge ({requests} {traffic}, \
             fewer than {MIN_REQUESTS}): nothing regressed",
            status.id,
            minutes(window_seconds)
        )),
        false => Judgement::Verified(format!(
            "{} held for {} minute(s): {so_far}, none worse than before it",
            status.id,
            minutes(window_seconds)
        )),
    }
}

/// The first figure of the window that regressed against the baseline, as evidence.
fn regression(
    kind: ApiKind,
    window: &StageMetrics,
    baseline: &StageMetrics,
    allowed: Option<f64>,
) -> Option<String> {
    let share = |m: &StageMetrics| {
        let requests = m.count.filter(|n| *n > 0.0)?;
        Some(m.five_xx.unwrap_or(0.0) / requests)
    };
    let now = share(window).unwrap_or(0.0);
    let before = share(baseline).unwrap_or(0.0);
    let limit = allowed.unwrap_or(ERROR_SHARE);
    if now > limit && now > 2.0 * before {
        return Some(format!(
            "{} share {:.2} % (before the deployment {:.2} %; {} allows {:.2} %)",
            kind.profile().metrics.server_errors_label,
            100.0 * now,
            100.0 * before,
            match allowed {
                Some(_) => "the objective",
                None => "a deployment",
            },
            100.0 * limit
        ));
    }
    let slower = |name: &str, target: f64, now: Option<f64>, before: Option<f64>| {
        let now = now?;
        let over = now > target && before.is_none_or(|before| now > SLOWER * before);
        over.then(|| {
            format!(
                "p99 {name} {now:.0} ms (before the deployment {}; target under {target:.0} ms)",
                millis(before)
            )
        })
    };
    slower(
        "Latency",
        LATENCY_TARGET_MS,
        window.latency_p99,
        baseline.latency_p99,
    )
    .or_else(|| {
        slower(
            "IntegrationLatency",
            INTEGRATION_LATENCY_TARGET_MS,
            window.integration_latency_p99,
            baseline.integration_latency_p99,
        )
    })
}

/// The deployment to roll a regressed one back to, or why there is none: rollback is Off,
/// the stage deploys itself (`auto_deploy`: AWS refuses a deployment id there, and the next
/// change would deploy again), no earlier deployment is known, it regressed itself, or a
/// canary is active (AWS keeps a stage with a canary on its deployment until the canary is
/// turned off).
pub fn rollback_target(
    spec: &DeploymentsSpec,
    status: &DeploymentStatus,
    auto_deploy: bool,
) -> Result<String, String> {
    if spec.rollback == Rollback::Off {
        return Err("rollback is Off: nothing was written".to_owned());
    }
    if auto_deploy {
        return Err(
            "the stage deploys every change itself (AutoDeploy): AWS takes no deployment id \
             for it and the next change would deploy again; turn AutoDeploy off to let the \
             guard roll it back, or deploy a fix"
                .to_owned(),
        );
    }
    let Some(previous) = &status.previous_id else {
        return Err("no earlier deployment of this stage is known to roll back to".to_owned());
    };
    if status.regressed.contains(previous) {
        return Err(format!(
            "the previous deployment {previous} regressed too: not rolled back to it"
        ));
    }
    if status.canary.is_some() {
        return Err(
            "a canary release is active on the stage: turn it off (or promote it) to roll back"
                .to_owned(),
        );
    }
    Ok(previous.clone())
}

/// The status after a judgement: a regression is remembered (never rolled back to), and a
/// rollback makes the previous deployment the one served, not verified again.
pub fn settle(
    status: DeploymentStatus,
    judgement: &Judgement,
    rolled_back_to: Option<&str>,
    now: i64,
) -> DeploymentStatus {
    match judgement {
        Judgement::Verifying { message, .. } => DeploymentStatus {
            verdict: VERIFYING.to_owned(),
            message: message.clone(),
            ..status
        },
        Judgement::Verified(message) => DeploymentStatus {
            verdict: VERIFIED.to_owned(),
            message: message.clone(),
            ..status
        },
        Judgement::Regressed(evidence) => {
            let mut regressed = status.regressed.clone();
            if !regressed.contains(&status.id) {
                regressed.push(status.id.clone());
            }
            match rolled_back_to {
                Some(to) => DeploymentStatus {
                    id: to.to_owned(),
                    previous_id: None,
                    since: rfc3339(now),
                    verdict: ROLLED_BACK.to_owned(),
                    message: format!("rolled back from {} to {to}: {evidence}", status.id),
                    regressed,
                    canary: status.canary,
                },
                None => DeploymentStatus {
                    verdict: REGRESSED.to_owned(),
                    message: evidence.clone(),
                    regressed,
                    ..status
                },
            }
        }
    }
}

/// The DeploymentVerified condition of a status: Unknown while verifying, True once
/// verified (or for the deployment the guard found), False when it regressed.
pub fn condition(status: &DeploymentStatus) -> (&'static str, &'static str) {
    match status.verdict.as_str() {
        VERIFYING => ("Unknown", "Verifying"),
        VERIFIED => ("True", "Verified"),
        BASELINE => ("True", "Baseline"),
        ROLLED_BACK => ("False", "RolledBack"),
        _ => ("False", "Regressed"),
    }
}

/// The window of a verification that began at `since` and is judged at `now`, and the
/// baseline of the same length before it: (start, length) in epoch seconds, whole minutes.
pub fn windows(since: i64, now: i64) -> (i64, i64) {
    let length = ((now - since).max(60) + 59) / 60 * 60;
    (since - length, length)
}

#[cfg(test)]
mod tests;
