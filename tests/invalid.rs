//! Bad input: every invalid guard is refused with the file, the guard and the field at fault,
//! before any AWS call, and never with a panic. Where the CRD's CEL rules cover the problem,
//! the cluster's own rules (evaluated client-side) refuse it too.

use apigw_guard::crd::ApiGatewayGuard;
use apigw_guard::manifest::parse;
use proptest::prelude::*;

const FILE: &str = "guards/bad.yaml";

/// A guard document whose spec is `spec` (indented under `spec:`).
fn guard(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: apigw-guard.dev/v1alpha1\nkind: ApiGatewayGuard\nmetadata:\n  name: {name}\n  namespace: team\nspec:\n{spec}"
    )
}

/// (case, spec, text the error must contain, whether the CRD's CEL rules also refuse it)
const CASES: &[(&str, &str, &str, bool)] = &[
    (
        "missing-stage",
        "  restApi: {name: a}\n",
        "missing field `stage`",
        false,
    ),
    (
        "both-name-and-id",
        "  restApi: {name: a, id: b}\n  stage: prod\n",
        "spec.restApi: give exactly one of name or id",
        true,
    ),
    (
        "neither-name-nor-id",
        "  restApi: {}\n  stage: prod\n",
        "spec.restApi: give exactly one of name or id",
        true,
    ),
    (
        "empty-stage",
        "  restApi: {name: a}\n  stage: ''\n",
        "spec.stage: must not be empty",
        false,
    ),
    (
        "stage-too-long",
        "  restApi: {name: a}\n  stage: sssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss\n",
        "spec.stage: at most 128 characters",
        false,
    ),
    (
        "zero-rate",
        "  restApi: {name: a}\n  stage: prod\n  stageThrottle: {rateLimit: 0, burstLimit: 1}\n",
        "spec.stageThrottle.rateLimit: must be greater than 0",
        true,
    ),
    (
        "negative-rate",
        "  restApi: {name: a}\n  stage: prod\n  stageThrottle: {rateLimit: -5, burstLimit: 1}\n",
        "spec.stageThrottle.rateLimit: must be greater than 0",
        true,
    ),
    (
        "negative-burst",
        "  restApi: {name: a}\n  stage: prod\n  stageThrottle: {rateLimit: 5, burstLimit: -1}\n",
        "spec.stageThrottle.burstLimit: must be 0 or more",
        false,
    ),
    (
        "burst-without-rate",
        "  restApi: {name: a}\n  stage: prod\n  stageThrottle: {burstLimit: 5}\n",
        "missing field `rateLimit`",
        false,
    ),
    (
        "throttle-without-plan",
        "  restApi: {name: a}\n  stage: prod\n  throttle: {rateLimit: 5, burstLimit: 5}\n",
        "missing field `usagePlan`",
        false,
    ),
    (
        "plan-both-name-and-id",
        "  restApi: {name: a}\n  stage: prod\n  throttle: {usagePlan: {name: p, id: q}, rateLimit: 5, burstLimit: 5}\n",
        "spec.throttle.usagePlan: give exactly one of name or id",
        true,
    ),
    (
        "plan-negative-rate",
        "  restApi: {name: a}\n  stage: prod\n  throttle: {usagePlan: {name: p}, rateLimit: -1, burstLimit: 5}\n",
        "spec.throttle.rateLimit: must be greater than 0",
        true,
    ),
    (
        "period-not-allowed",
        "  restApi: {name: a}\n  stage: prod\n  alarms: {fiveXXError: {threshold: 1, statistic: Sum, periodSeconds: 45}}\n",
        "spec.alarms.fiveXXError.periodSeconds: must be 10, 30 or a multiple of 60",
        true,
    ),
    (
        "window-over-a-day",
        "  restApi: {name: a}\n  stage: prod\n  alarms: {latency: {threshold: 1, statistic: p99, periodSeconds: 3600, evaluationPeriods: 48}}\n",
        "spec.alarms.latency: periodSeconds x evaluationPeriods must be at most 86400",
        true,
    ),
    (
        "zero-evaluation-periods",
        "  restApi: {name: a}\n  stage: prod\n  alarms: {latency: {threshold: 1, statistic: p99, evaluationPeriods: 0}}\n",
        "spec.alarms.latency.evaluationPeriods: must be 1 or more",
        false,
    ),
    (
        "negative-threshold",
        "  restApi: {name: a}\n  stage: prod\n  alarms: {integrationLatency: {threshold: -1, statistic: p99}}\n",
        "spec.alarms.integrationLatency.threshold: must be 0 or more",
        true,
    ),
    (
        "unknown-statistic",
        "  restApi: {name: a}\n  stage: prod\n  alarms: {latency: {threshold: 1, statistic: Median}}\n",
        "spec.alarms.latency.statistic: \"Median\" is neither",
        false,
    ),
    (
        "percentile-over-100",
        "  restApi: {name: a}\n  stage: prod\n  alarms: {latency: {threshold: 1, statistic: p100.5}}\n",
        "spec.alarms.latency.statistic: \"p100.5\" is neither",
        false,
    ),
    (
        "unknown-log-level",
        "  restApi: {name: a}\n  stage: prod\n  executionLogging: {level: DEBUG}\n",
        "unknown variant `DEBUG`",
        false,
    ),
    (
        "bare-off-level",
        "  restApi: {name: a}\n  stage: prod\n  executionLogging: {level: false}\n",
        "expected one of `OFF`, `ERROR`, `INFO`",
        false,
    ),
    (
        "action-not-an-arn",
        "  restApi: {name: a}\n  stage: prod\n  alarms: {actions: [oncall-topic]}\n",
        "spec.alarms.actions[0]: \"oncall-topic\" is not an ARN",
        false,
    ),
    (
        "too-many-actions",
        "  restApi: {name: a}\n  stage: prod\n  alarms: {okActions: ['arn:aws:sns:us-east-1:1:a', 'arn:aws:sns:us-east-1:1:b', 'arn:aws:sns:us-east-1:1:c', 'arn:aws:sns:us-east-1:1:d', 'arn:aws:sns:us-east-1:1:e', 'arn:aws:sns:us-east-1:1:f']}\n",
        "spec.alarms.okActions: at most 5 ARNs",
        false,
    ),
    (
        "unknown-spec-field",
        "  restApi: {name: a}\n  stage: prod\n  tracng: {enabled: true}\n",
        "unknown field `tracng`",
        false,
    ),
    (
        "unknown-alarm-field",
        "  restApi: {name: a}\n  stage: prod\n  alarms: {latency: {thresold: 1, statistic: p99}}\n",
        "unknown field `thresold`",
        false,
    ),
    (
        "wrong-type",
        "  restApi: {name: a}\n  stage: prod\n  stageThrottle: {rateLimit: fast, burstLimit: 1}\n",
        "invalid type: string \"fast\", expected f64",
        false,
    ),
    (
        "unknown-deletion-policy",
        "  restApi: {name: a}\n  stage: prod\n  deletionPolicy: Destroy\n",
        "unknown variant `Destroy`",
        false,
    ),
    (
        "unknown-missing-data",
        "  restApi: {name: a}\n  stage: prod\n  alarms: {treatMissingData: zero}\n",
        "unknown variant `zero`",
        false,
    ),
    (
        "burst-over-i32",
        "  restApi: {name: a}\n  stage: prod\n  stageThrottle: {rateLimit: 1, burstLimit: 99999999999}\n",
        "invalid value",
        false,
    ),
];

#[test]
fn every_invalid_guard_is_refused_with_file_guard_and_field() {
    assert!(CASES.len() >= 20);
    for (case, spec, expected, _) in CASES {
        let err = match parse(FILE, &guard(case, spec)) {
            Ok(guards) => panic!("{case}: accepted {guards:?}"),
            Err(err) => err.to_string(),
        };
        assert!(
            err.starts_with(&format!("{FILE}: guard {case}: ")),
            "{case}: {err}"
        );
        assert!(
            err.contains(expected),
            "{case}: expected {expected:?} in {err}"
        );
    }
}

#[test]
fn the_clusters_cel_rules_refuse_what_they_cover() {
    for (case, spec, _, cel) in CASES.iter().filter(|c| c.3) {
        let guard: ApiGatewayGuard = serde_yaml::from_str(&guard(case, spec)).unwrap();
        let refused = kube::core::cel::validate_cel(&guard);
        assert!(
            refused.is_err(),
            "{case}: the CRD's CEL rules accept it (cel = {cel})"
        );
    }
}

#[test]
fn document_level_problems_are_named_too() {
    let cases = [
        (
            "kind: Other",
            "expected apigw-guard.dev/v1alpha1/ApiGatewayGuard",
        ),
        (
            "apiVersion: apigw-guard.dev/v1",
            "expected apigw-guard.dev/v1alpha1/ApiGatewayGuard",
        ),
    ];
    for (line, expected) in cases {
        let doc = guard("g", "  restApi: {name: a}\n  stage: prod\n");
        let key = line.split(':').next().unwrap();
        let doc: String = doc
            .lines()
            .map(|l| {
                if l.starts_with(&format!("{key}:")) {
                    line.to_owned()
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let err = parse(FILE, &doc).unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
    }
    let long = "n".repeat(240);
    let err = parse(FILE, &guard(&long, "  restApi: {name: a}\n  stage: prod\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("over CloudWatch's 255"), "{err}");
    let err = parse(FILE, "apiVersion: [unclosed\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("{FILE}: ")) && err.contains("line 1"),
        "{err}"
    );
    let err = parse(
        FILE,
        &format!(
            "{}\n---\n{}",
            guard("ok", "  restApi: {name: a}\n  stage: prod\n"),
            guard("second", "  restApi: {name: a}\n")
        ),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("guard second: spec: missing field `stage`"),
        "{err}"
    );
    assert!(
        err.contains("line 17"),
        "the line counts from the top of the file: {err}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Arbitrary text never panics the parser: it is a guard or an error.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = parse(FILE, &text);
    }

    /// Valid guards mutated at one character never panic, and what parses is valid.
    #[test]
    fn mutated_guards_never_panic(position in 0usize..400, replacement in "[ -~\n]{0,3}") {
        let original = guard("g", "  restApi: {name: a}\n  stage: prod\n  stageThrottle: {rateLimit: 10, burstLimit: 5}\n  alarms: {latency: {threshold: 900, statistic: p99}}\n");
        let at = position.min(original.len());
        let mutated = format!("{}{}{}", &original[..at], replacement, &original[(at + 1).min(original.len())..]);
        if let Ok(guards) = parse(FILE, &mutated) {
            for guard in guards.guards {
                prop_assert!(apigw_guard::validate::validate(&guard.spec).is_empty());
            }
        }
    }
}
