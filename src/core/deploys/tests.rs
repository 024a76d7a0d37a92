use super::*;
use crate::core::model::{ApiKind, Canary};

const T0: i64 = 1_800_000_000;

fn observed(id: &str, updated_at: Option<i64>) -> StageDeployment {
    StageDeployment {
        auto_deploy: false,
        id: id.to_owned(),
        updated_at,
        canary: None,
    }
}

fn figures(requests: f64, errors: f64, latency: f64) -> StageMetrics {
    StageMetrics {
        period: 600,
        count: Some(requests),
        five_xx: Some(errors),
        latency_p99: Some(latency),
        integration_latency_p99: Some(latency / 2.0),
        ..Default::default()
    }
}

fn spec(yaml: &str) -> DeploymentsSpec {
    serde_yaml::from_str(yaml).unwrap()
}

/// Deployments made at these times (the one serving, the one the status holds).
fn made(serving: i64, held: Option<i64>) -> Made {
    Made {
        serving: Some(serving),
        held,
    }
}

fn verifying(now: i64) -> DeploymentStatus {
    let baseline = track(
        None,
        &observed("d1", Some(T0 - 3600)),
        made(T0 - 7200, None),
        T0,
    );
    track(
        Some(&baseline),
        &observed("d2", Some(now)),
        made(now, Some(T0 - 7200)),
        now,
    )
}

#[test]
fn the_first_deployment_is_the_baseline_and_a_new_one_starts_a_window_when_it_was_made() {
    let first = track(
        None,
        &observed("d1", Some(T0 - 3600)),
        made(T0 - 7200, None),
        T0,
    );
    assert_eq!(
        (first.verdict.as_str(), first.since.as_str()),
        (BASELINE, rfc3339(T0 - 7200).as_str())
    );
    assert_eq!(condition(&first), ("True", "Baseline"));
    // Not known when it was made: when the stage last changed.
    let unknown = track(None, &observed("d1", Some(T0 - 3600)), Made::default(), T0);
    assert_eq!(unknown.since, rfc3339(T0 - 3600));
    // The same deployment keeps its status; the canary is read afresh.
    let mut with_canary = observed("d1", Some(T0));
    with_canary.canary = Some(Canary {
        deployment_id: Some("d9".to_owned()),
        percent_traffic: 10.0,
    });
    let same = track(Some(&first), &with_canary, Made::default(), T0 + 60);
    assert_eq!(
        (same.since.as_str(), same.verdict.as_str()),
        (first.since.as_str(), BASELINE)
    );
    assert_eq!(same.canary.unwrap().deployment_id.as_deref(), Some("d9"));
    // A new one: the window starts when it was made, however much later the stage changed
    // (a stage variable set 29 s after the deploy); the old one is what a rollback goes
    // back to.
    let new = track(
        Some(&first),
        &observed("d2", Some(T0 + 129)),
        made(T0 + 100, Some(T0 - 7200)),
        T0 + 160,
    );
    assert_eq!(new.previous_id.as_deref(), Some("d1"));
    assert_eq!(new.since, rfc3339(T0 + 100));
    assert_eq!(condition(&new), ("Unknown", "Verifying"));
    // Made before the one it replaced took the stage (promoted from another stage): from
    // then. Made in the future, or not known: from now.
    let promoted = track(
        Some(&new),
        &observed("d3", Some(T0 + 300)),
        made(T0 + 50, Some(T0 + 40)),
        T0 + 300,
    );
    assert_eq!(promoted.since, rfc3339(T0 + 100));
    let ahead = track(
        Some(&new),
        &observed("d3", Some(T0 + 9999)),
        made(T0 + 9999, Some(T0 + 100)),
        T0 + 200,
    );
    assert_eq!(ahead.since, rfc3339(T0 + 200));
    let unknown = track(Some(&new), &observed("d3", None), Made::default(), T0 + 200);
    assert_eq!(unknown.since, rfc3339(T0 + 200));
}

#[test]
fn a_stage_gone_back_to_an_earlier_deployment_is_never_verified_as_a_new_one() {
    // A status one behind the rollback (the cache lagged, or the operator was restarted
    // between the rollback and its status): verifying d2, whose window saw d2's errors.
    let status = verifying(T0);
    let bad = Judgement::Regressed("5XX share 50.00 %".to_owned());
    let written = settle(status.clone(), &bad, Some("d1"), T0 + 300);
    // The stage serves d1, the deployment before d2: a rollback, not a deployment to verify
    // (nor one to roll back "to" d2).
    let behind = track(
        Some(&status),
        &observed("d1", Some(T0 + 300)),
        made(T0 - 7200, Some(T0)),
        T0 + 301,
    );
    assert_eq!(behind.id, "d1");
    assert_ne!(behind.verdict, VERIFYING);
    assert_eq!(behind.previous_id, None);
    assert!(
        behind.message.contains("went back from d2 to d1"),
        "{}",
        behind.message
    );
    // Whatever is known of when it was made, the one before is an earlier one.
    let unknown = track(
        Some(&status),
        &observed("d1", None),
        Made::default(),
        T0 + 301,
    );
    assert_ne!(unknown.verdict, VERIFYING);
    // A regression the status remembers: the rollback is named as such.
    let mut remembered = status.clone();
    remembered.regressed.push("d2".to_owned());
    let ours = track(
        Some(&remembered),
        &observed("d1", None),
        Made::default(),
        T0 + 301,
    );
    assert_eq!(
        (ours.verdict.as_str(), ours.regressed.as_slice()),
        (ROLLED_BACK, &["d2".to_owned()][..])
    );
    // Someone points the stage at a deployment made before d2 (not d1): not verified either.
    let older = track(
        Some(&status),
        &observed("d0", None),
        made(T0 - 9000, Some(T0)),
        T0 + 301,
    );
    assert_eq!(older.verdict, BASELINE);
    // The status written after the rollback holds: the same deployment, nothing to judge.
    let next = track(
        Some(&written),
        &observed("d1", Some(T0 + 300)),
        Made::default(),
        T0 + 360,
    );
    assert_eq!(next, written);
    assert_eq!(
        rollback_target(&spec("{rollback: Auto}"), &next, false).ok(),
        None
    );
}

/// (case, seconds since the deployment, window, baseline, objective share, expected verdict,
/// text in the message)
type Case = (
    &'static str,
    i64,
    StageMetrics,
    StageMetrics,
    Option<f64>,
    &'static str,
    &'static str,
);

#[test]
fn a_window_is_judged_against_the_minutes_before_the_deployment() {
    let status = verifying(T0);
    let calm = figures(1000.0, 1.0, 300.0);
    let cases: Vec<Case> = vec![
        (
            "still verifying",
            600,
            calm.clone(),
            calm.clone(),
            None,
            VERIFYING,
            "20 more minute(s)",
        ),
        (
            "held",
            1800,
            calm.clone(),
            calm.clone(),
            None,
            VERIFIED,
            "held for 30 minute(s)",
        ),
        (
            "errors jump",
            300,
            figures(1000.0, 50.0, 300.0),
            calm.clone(),
            None,
            REGRESSED,
            "5XX share 5.00 % (before the deployment 0.10 %; a deployment allows 1.00 %)",
        ),
        (
            "already failing before: not the deploy's fault",
            1800,
            figures(1000.0, 50.0, 300.0),
            figures(1000.0, 40.0, 300.0),
            None,
            VERIFIED,
            "none worse",
        ),
        (
            "an objective's budget replaces the 1 %",
            300,
            figures(1000.0, 5.0, 300.0),
            figures(1000.0, 0.0, 300.0),
            Some(0.001),
            REGRESSED,
            "the objective allows 0.10 %",
        ),
        (
            "slower than the target and than before",
            300,
            figures(1000.0, 0.0, 2500.0),
            calm.clone(),
            None,
            REGRESSED,
            "p99 Latency 2500 ms (before the deployment 300 ms",
        ),
        (
            "slow before as well",
            1800,
            figures(1000.0, 0.0, 1200.0),
            figures(1000.0, 0.0, 1100.0),
            None,
            VERIFIED,
            "held",
        ),
        (
            "too few requests to judge, even failing",
            1800,
            figures(5.0, 5.0, 300.0),
            StageMetrics::default(),
            None,
            VERIFIED,
            "too little traffic to judge (5 requests",
        ),
        (
            "no data at all",
            1800,
            StageMetrics::default(),
            StageMetrics::default(),
            None,
            VERIFIED,
            "too little traffic",
        ),
    ];
    for (case, after, window, baseline, allowed, verdict, text) in cases {
        let judgement = judge(
            ApiKind::Rest,
            &status,
            1800,
            T0 + after,
            &window,
            &baseline,
            allowed,
        );
        let settled = settle(status.clone(), &judgement, None, T0 + after);
        assert_eq!(settled.verdict, verdict, "{case}: {judgement:?}");
        assert!(
            settled.message.contains(text),
            "{case}: {}",
            settled.message
        );
    }
    // A WebSocket API's deployment is judged on its errors of its messages, and its figures
    // show no Latency (the kind publishes none).
    let mut calm = figures(500.0, 0.0, 160.0);
    calm.latency_p99 = None;
    let mut failing = calm.clone();
    failing.five_xx = Some(50.0);
    let judged = judge(
        ApiKind::WebSocket,
        &status,
        1800,
        T0 + 600,
        &failing,
        &calm,
        None,
    );
    let Judgement::Regressed(evidence) = judged else {
        panic!("{judged:?}");
    };
    assert!(evidence.starts_with("errors share 10.00 %"), "{evidence}");
    let verifying = judge(
        ApiKind::WebSocket,
        &status,
        1800,
        T0 + 600,
        &calm,
        &calm,
        None,
    );
    let Judgement::Verifying { message, .. } = verifying else {
        panic!("{verifying:?}");
    };
    assert!(
        message.ends_with("so far 500 messages, 0 errors, p99 IntegrationLatency 80 ms"),
        "{message}"
    );
}

#[test]
fn a_regression_rolls_back_once_to_a_deployment_that_did_not_regress() {
    let status = verifying(T0);
    let bad = Judgement::Regressed("5XX share 5.00 %".to_owned());
    let auto = spec("{rollback: Auto}");
    assert_eq!(rollback_target(&auto, &status, false), Ok("d1".to_owned()));
    let rolled = settle(status.clone(), &bad, Some("d1"), T0 + 300);
    assert_eq!(
        (
            rolled.id.as_str(),
            rolled.verdict.as_str(),
            rolled.regressed.as_slice()
        ),
        ("d1", ROLLED_BACK, &["d2".to_owned()][..])
    );
    assert!(
        rolled
            .message
            .starts_with("rolled back from d2 to d1: 5XX share")
    );
    assert_eq!(condition(&rolled), ("False", "RolledBack"));
    // The stage now serves d1: the same deployment, not verified again.
    let next = track(
        Some(&rolled),
        &observed("d1", Some(T0 + 300)),
        Made::default(),
        T0 + 360,
    );
    assert_eq!(next.verdict, ROLLED_BACK);
    // d2 deployed again regresses again: its previous (d1) is fine, so back to it; but a
    // deployment after d2 whose previous is d2 is never rolled back to d2.
    let again = track(
        Some(&rolled),
        &observed("d2", Some(T0 + 400)),
        made(T0, Some(T0 - 7200)),
        T0 + 400,
    );
    assert_eq!(rollback_target(&auto, &again, false), Ok("d1".to_owned()));
    let after_bad = track(
        Some(&settle(again, &bad, None, T0 + 500)),
        &observed("d3", Some(T0 + 600)),
        made(T0 + 600, Some(T0)),
        T0 + 600,
    );
    assert_eq!(after_bad.previous_id.as_deref(), Some("d2"));
    assert_eq!(
        rollback_target(&auto, &after_bad, false),
        Err("the previous deployment d2 regressed too: not rolled back to it".to_owned())
    );
    // Off writes nothing; nothing earlier known; a canary in the way.
    assert!(
        rollback_target(&spec("{}"), &status, false)
            .unwrap_err()
            .contains("rollback is Off")
    );
    let first = track(None, &observed("d1", None), Made::default(), T0);
    assert!(
        rollback_target(&auto, &first, false)
            .unwrap_err()
            .contains("no earlier deployment")
    );
    let mut canary = status.clone();
    canary.canary = Some(CanaryStatus {
        deployment_id: Some("d3".to_owned()),
        percent_traffic: 5.0,
    });
    assert!(
        rollback_target(&auto, &canary, false)
            .unwrap_err()
            .contains("canary")
    );
    // A stage that deploys every change itself is judged but never pointed back: AWS takes
    // no deployment id for it, and the next change would deploy again.
    assert!(
        rollback_target(&auto, &status, true)
            .unwrap_err()
            .contains("AutoDeploy")
    );
    // Regressed without a rollback: remembered, the stage left as it is.
    let reported = settle(status, &bad, None, T0 + 300);
    assert_eq!(
        (reported.id.as_str(), reported.verdict.as_str()),
        ("d2", REGRESSED)
    );
    assert_eq!(condition(&reported), ("False", "Regressed"));
}

#[test]
fn a_restarted_operator_continues_the_window_from_status() {
    // The window started 10 minutes ago, written in status; a fresh process judges from it.
    let status = verifying(T0);
    let written = serde_json::to_value(&status).unwrap();
    let read: DeploymentStatus = serde_json::from_value(written).unwrap();
    let calm = figures(1000.0, 0.0, 300.0);
    match judge(ApiKind::Rest, &read, 1800, T0 + 600, &calm, &calm, None) {
        Judgement::Verifying { seconds_left, .. } => assert_eq!(seconds_left, 1200),
        other => panic!("{other:?}"),
    }
}

#[test]
fn windows_are_whole_minutes_with_a_baseline_as_long_before() {
    assert_eq!(windows(T0, T0 + 10), (T0 - 60, 60));
    assert_eq!(windows(T0, T0 + 601), (T0 - 660, 660));
    assert_eq!(spec("{verifyFor: 90m}").verify_for_seconds(), Some(5400));
    assert_eq!(spec("{}").verify_for_seconds(), Some(1800));
    assert_eq!(spec("{verifyFor: 2h}").verify_for_seconds(), Some(7200));
    assert_eq!(spec("{verifyFor: 2d}").verify_for_seconds(), None);
}
