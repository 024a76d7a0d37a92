//! Bad input: every invalid guard is refused with the file, the guard and the field at fault,
//! before any AWS call, and never with a panic. Where the CRD's CEL rules cover the problem,
//! the cluster's own rules (evaluated client-side) refuse it too.

use apigw_guard::cli::manifest::parse;
use apigw_guard::core::crd::ApiGatewayGuard;
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
        "spec.stage: required field missing",
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
        "spec.stage: must be at most 128 characters",
        false,
    ),
    (
        "zero-rate",
        "  restApi: {name: a}\n  stage: prod\n  stageThrottle: {rateLimit: 0, burstLimit: 1}\n",
        "spec.stageThrottle: rateLimit must be greater than 0",
        true,
    ),
    (
        "negative-rate",
        "  restApi: {name: a}\n  stage: prod\n  stageThrottle: {rateLimit: -5, burstLimit: 1}\n",
        "spec.stageThrottle: rateLimit must be greater than 0",
        true,
    ),
    (
        "negative-burst",
        "  restApi: {name: a}\n  stage: prod\n  stageThrottle: {rateLimit: 5, burstLimit: -1}\n",
        "spec.stageThrottle.burstLimit: must be at least 0",
        false,
    ),
    (
        "burst-without-rate",
        "  restApi: {name: a}\n  stage: prod\n  stageThrottle: {burstLimit: 5}\n",
        "spec.stageThrottle.rateLimit: required field missing",
        false,
    ),
    (
        "throttle-without-plan",
        "  restApi: {name: a}\n  stage: prod\n  throttle: {rateLimit: 5, burstLimit: 5}\n",
        "spec.throttle.usagePlan: required field missing",
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
        "spec.throttle: rateLimit must be greater than 0",
        true,
    ),
    (
        "period-not-allowed",
        "  restApi: {name: a}\n  stage: prod\n  alarms: {fiveXXError: {threshold: 1, statistic: Sum, periodSeconds: 90}}\n",
        "spec.alarms.fiveXXError: periodSeconds must be a multiple of 60",
        true,
    ),
    (
        "period-under-the-metrics-minute",
        "  restApi: {name: a}\n  stage: prod\n  alarms: {fiveXXError: {threshold: 1, statistic: Sum, periodSeconds: 30}}\n",
        "spec.alarms.fiveXXError.periodSeconds: must be at least 60",
        true,
    ),
    (
        "window-over-a-day",
        "  restApi: {name: a}\n  stage: prod\n  alarms: {latency: {threshold: 1, statistic: p99, periodSeconds: 1800, evaluationPeriods: 49}}\n",
        "spec.alarms.latency: periodSeconds x evaluationPeriods must be at most 86400",
        true,
    ),
    (
        "window-over-a-week",
        "  restApi: {name: a}\n  stage: prod\n  alarms: {latency: {threshold: 1, statistic: p99, periodSeconds: 3600, evaluationPeriods: 169}}\n",
        "spec.alarms.latency: periodSeconds x evaluationPeriods must be at most 86400 (one day), or 604800 (7 days)",
        true,
    ),
    (
        "zero-evaluation-periods",
        "  restApi: {name: a}\n  stage: prod\n  alarms: {latency: {threshold: 1, statistic: p99, evaluationPeriods: 0}}\n",
        "spec.alarms.latency.evaluationPeriods: must be at least 1",
        false,
    ),
    (
        "negative-threshold",
        "  restApi: {name: a}\n  stage: prod\n  alarms: {integrationLatency: {threshold: -1, statistic: p99}}\n",
        "spec.alarms.integrationLatency: threshold must be 0 or more",
        true,
    ),
    (
        "unknown-statistic",
        "  restApi: {name: a}\n  stage: prod\n  alarms: {latency: {threshold: 1, statistic: Median}}\n",
        "spec.alarms.latency.statistic: must match ^(SampleCount|",
        false,
    ),
    (
        "percentile-over-100",
        "  restApi: {name: a}\n  stage: prod\n  alarms: {latency: {threshold: 1, statistic: p100.5}}\n",
        "spec.alarms.latency.statistic: must match ^(SampleCount|",
        false,
    ),
    (
        "unknown-log-level",
        "  restApi: {name: a}\n  stage: prod\n  executionLogging: {level: DEBUG}\n",
        "spec.executionLogging.level: must be one of [\"OFF\",\"ERROR\",\"INFO\"]",
        false,
    ),
    (
        "bare-off-level",
        "  restApi: {name: a}\n  stage: prod\n  executionLogging: {level: false}\n",
        "spec.executionLogging.level: must be of type string, got false",
        false,
    ),
    (
        "yaml11-off-level",
        "  restApi: {name: a}\n  stage: prod\n  executionLogging: {level: OFF}\n",
        "(kubectl reads the bare YAML 1.1 scalar OFF as false; quote it: \"OFF\")",
        false,
    ),
    (
        "null-where-a-default-applies",
        "  restApi: {name: a}\n  stage: prod\n  dashboard: {enabled: null}\n",
        "spec.dashboard.enabled: must not be null: omit the field for its default",
        false,
    ),
    (
        "region-not-a-region",
        "  restApi: {name: a}\n  stage: prod\n  region: us east 1\n",
        "spec.region: not an AWS region name, e.g. us-east-1",
        false,
    ),
    (
        "empty-account",
        "  restApi: {name: a}\n  stage: prod\n  account: ''\n",
        "spec.account: must not be empty",
        false,
    ),
    (
        "action-not-an-arn",
        "  restApi: {name: a}\n  stage: prod\n  alarms: {actions: [oncall-topic]}\n",
        "spec.alarms.actions[0]: must match ^arn:",
        false,
    ),
    (
        "too-many-actions",
        "  restApi: {name: a}\n  stage: prod\n  alarms: {okActions: ['arn:aws:sns:us-east-1:1:a', 'arn:aws:sns:us-east-1:1:b', 'arn:aws:sns:us-east-1:1:c', 'arn:aws:sns:us-east-1:1:d', 'arn:aws:sns:us-east-1:1:e', 'arn:aws:sns:us-east-1:1:f']}\n",
        "spec.alarms.okActions: must have at most 5 items",
        false,
    ),
    (
        "unknown-spec-field",
        "  restApi: {name: a}\n  stage: prod\n  tracng: {enabled: true}\n",
        "spec.tracng: unknown field",
        false,
    ),
    (
        "unknown-alarm-field",
        "  restApi: {name: a}\n  stage: prod\n  alarms: {latency: {thresold: 1, statistic: p99}}\n",
        "spec.alarms.latency.thresold: unknown field",
        false,
    ),
    (
        "wrong-type",
        "  restApi: {name: a}\n  stage: prod\n  stageThrottle: {rateLimit: fast, burstLimit: 1}\n",
        "spec.stageThrottle.rateLimit: must be of type number, got \"fast\"",
        false,
    ),
    (
        "unknown-deletion-policy",
        "  restApi: {name: a}\n  stage: prod\n  deletionPolicy: Destroy\n",
        "spec.deletionPolicy: must be one of [\"Delete\",\"Retain\"]",
        false,
    ),
    (
        "unknown-missing-data",
        "  restApi: {name: a}\n  stage: prod\n  alarms: {treatMissingData: zero}\n",
        "spec.alarms.treatMissingData: must be one of",
        false,
    ),
    (
        "burst-over-i32",
        "  restApi: {name: a}\n  stage: prod\n  stageThrottle: {rateLimit: 1, burstLimit: 99999999999}\n",
        "spec.stageThrottle.burstLimit: must be at most 2147483647",
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
        // file:line: guard name: field: message
        let (place, said) = err.split_once(&format!(": guard {case}: ")).unwrap();
        assert!(
            place.starts_with(&format!("{FILE}:"))
                && place[FILE.len() + 1..].parse::<usize>().is_ok(),
            "{case}: {err}"
        );
        assert!(said.starts_with("spec."), "{case}: {err}");
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
            "guards/bad.yaml:2: document g: kind: \"Other\" is none of",
        ),
        (
            "apiVersion: apigw-guard.dev/v1",
            "guards/bad.yaml:1: guard g: apiVersion: must be apigw-guard.dev/v1alpha1",
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
    // The CRD's rule on metadata.name: owned alarm names carry it.
    let ok = "n".repeat(128);
    assert!(parse(FILE, &guard(&ok, "  restApi: {name: a}\n  stage: prod\n")).is_ok());
    let long = "n".repeat(129);
    let err = parse(FILE, &guard(&long, "  restApi: {name: a}\n  stage: prod\n"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            ":4: guard {long}: metadata.name: at most 128 characters"
        )),
        "{err}"
    );
    let err = parse(FILE, "apiVersion: [unclosed\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("{FILE}:1: YAML syntax error: ")),
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
    assert_eq!(
        err,
        format!("{FILE}:16: guard second: spec.stage: required field missing"),
        "the line counts from the top of the file"
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
                prop_assert!(apigw_guard::core::validate::validate(&guard.spec).is_empty());
            }
        }
    }
}
