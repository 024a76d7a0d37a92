//! One validation, two callers: a table of documents, each given both to a real API server
//! (through kubectl, which reads YAML 1.1 and validates fields strictly, as users apply files)
//! and to `apigw-guard plan -f`. They must agree: what the API server refuses, the CLI refuses
//! with exit 2, the file, the line and the field; what the API server takes, the CLI takes.
//! Good documents are in the table too, so neither side passes by refusing everything.

use crate::support;

use std::process::Command;

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::PostParams;

const NAMESPACE: &str = "verdicts";

/// The spec of a guard the API server takes.
const GUARD_SPEC: &str = "  restApi: {name: verdicts-api}\n  stage: prod\n";

fn guard(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: apigw-guard.dev/v1alpha1\nkind: ApiGatewayGuard\nmetadata:\n  name: {name}\n  \
         namespace: {NAMESPACE}\nspec:\n{spec}"
    )
}

fn policy(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: apigw-guard.dev/v1alpha1\nkind: ApiGatewayGuardPolicy\nmetadata:\n  name: {name}\n  \
         namespace: {NAMESPACE}\nspec:\n{spec}"
    )
}

/// An AwsAccount, then a good guard: `plan -f` wants a guard or a policy in the file.
fn account(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: apigw-guard.dev/v1alpha1\nkind: AwsAccount\nmetadata:\n  name: {name}\nspec:\n{spec}\
         ---\n{}",
        guard(&format!("with-{name}"), GUARD_SPEC)
    )
}

const ROLE: &str = "  roleArn: arn:aws:iam::111122223333:role/apigw-guard\n";

/// (case, document, the field both must name when refusing; None: both accept)
fn table() -> Vec<(&'static str, String, Option<&'static str>)> {
    let long = |n: usize| "n".repeat(n);
    let policy_spec = "  selector: {stages: [prod]}\n  template: {}\n";
    vec![
        // Good documents.
        ("good-guard", guard("good-guard", GUARD_SPEC), None),
        (
            "good-guard-quoted-off-and-nulls-where-optional",
            guard(
                "good-quoted",
                &format!(
                    "{GUARD_SPEC}  region: null\n  executionLogging: {{level: \"OFF\"}}\n  \
                     alarms: {{latency: {{threshold: null}}}}\n  dashboard: {{}}\n"
                ),
            ),
            None,
        ),
        (
            "good-guard-longest-name",
            guard(&long(128), GUARD_SPEC),
            None,
        ),
        (
            "good-http-guard",
            guard(
                "good-http",
                "  httpApi: {name: verdicts-http}\n  stage: $default\n  detailedMetrics: true\n  \
                 accessLogging: {retentionDays: 90}\n  stageThrottle:\n    rateLimit: 10\n    \
                 burstLimit: 5\n    routes: {'GET /pets': {rateLimit: 1, burstLimit: 1}, \
                 'ANY /{proxy+}': {rateLimit: 2, burstLimit: 2}}\n  alarms: {}\n",
            ),
            None,
        ),
        ("good-policy", policy("good-policy", policy_spec), None),
        (
            "good-policy-longest-name",
            policy(&long(63), policy_spec),
            None,
        ),
        (
            "good-account",
            account(
                "good-account",
                &format!(
                    "{ROLE}  externalId: x-1\n  namespaceSelector: \
                     {{matchLabels: {{team: payments, example.com/tier: gold}}}}\n"
                ),
            ),
            None,
        ),
        (
            "good-account-gov-partition",
            account(
                "good-gov",
                "  roleArn: arn:aws-us-gov:iam::111122223333:role/a\n  namespaceSelector: {}\n",
            ),
            None,
        ),
        // Names.
        (
            "guard-name-not-rfc1123",
            guard("Orders_Prod", GUARD_SPEC),
            Some("metadata.name"),
        ),
        (
            "guard-name-over-128",
            guard(&long(129), GUARD_SPEC),
            Some("metadata.name"),
        ),
        (
            "policy-name-over-63",
            policy(&long(64), policy_spec),
            Some("metadata.name"),
        ),
        (
            "policy-name-not-rfc1123",
            policy("Fleet", policy_spec),
            Some("metadata.name"),
        ),
        (
            "account-name-not-rfc1123",
            account("Payments", &format!("{ROLE}  namespaceSelector: {{}}\n")),
            Some("metadata.name"),
        ),
        (
            "label-key-not-a-label-key",
            guard("bad-label", GUARD_SPEC).replace(
                "  namespace: verdicts\n",
                "  namespace: verdicts\n  labels: {a/b/c: x}\n",
            ),
            Some("metadata.labels"),
        ),
        // YAML 1.1 scalars as kubectl reads them.
        (
            "bare-off-level",
            guard(
                "bare-off",
                &format!("{GUARD_SPEC}  executionLogging: {{level: OFF}}\n"),
            ),
            Some("spec.executionLogging.level"),
        ),
        (
            "bare-yes-stage",
            guard(
                "bare-yes",
                "  restApi: {name: verdicts-api}\n  stage: yes\n",
            ),
            Some("spec.stage"),
        ),
        (
            "template-bare-off-level",
            policy(
                "bare-off",
                "  selector: {stages: [prod]}\n  template: {executionLogging: {level: Off}}\n",
            ),
            Some("spec.template.executionLogging.level"),
        ),
        // The schema: lengths, empty strings, types, unknown fields, int32, CEL.
        (
            "stage-over-128",
            guard(
                "long-stage",
                &format!("  restApi: {{name: a}}\n  stage: {}\n", long(129)),
            ),
            Some("spec.stage"),
        ),
        (
            "empty-account",
            guard("empty-account", &format!("{GUARD_SPEC}  account: ''\n")),
            Some("spec.account"),
        ),
        (
            "unknown-field",
            guard("unknown-field", &format!("{GUARD_SPEC}  tracng: {{}}\n")),
            Some("spec.tracng"),
        ),
        (
            "burst-over-int32",
            guard(
                "burst",
                &format!("{GUARD_SPEC}  stageThrottle: {{rateLimit: 1, burstLimit: 3000000000}}\n"),
            ),
            Some("spec.stageThrottle.burstLimit"),
        ),
        (
            "rest-api-name-and-id",
            guard(
                "name-and-id",
                "  restApi: {name: a, id: b}\n  stage: prod\n",
            ),
            Some("spec.restApi"),
        ),
        (
            "empty-stage-glob",
            policy("empty-glob", "  selector: {stages: ['']}\n  template: {}\n"),
            Some("spec.selector.stages[0]"),
        ),
        (
            "empty-rest-api-name-glob",
            policy(
                "empty-name-glob",
                "  selector: {stages: [prod], restApiNames: ['']}\n  template: {}\n",
            ),
            Some("spec.selector.restApiNames[0]"),
        ),
        (
            "stage-glob-over-128",
            policy(
                "long-glob",
                &format!(
                    "  selector: {{stages: ['{}']}}\n  template: {{}}\n",
                    long(129)
                ),
            ),
            Some("spec.selector.stages[0]"),
        ),
        (
            "tag-value-not-a-string",
            policy(
                "number-tag",
                "  selector: {stages: [prod], restApiTags: {team: 5}}\n  template: {}\n",
            ),
            Some("spec.selector.restApiTags.team"),
        ),
        (
            "account-tag-value-not-a-string",
            account(
                "number-tag",
                &format!("{ROLE}  namespaceSelector: {{}}\n  restApis: {{tags: {{team: true}}}}\n"),
            ),
            Some("spec.restApis.tags.team"),
        ),
        (
            "policy-empty-account",
            policy(
                "empty-account",
                "  account: ''\n  selector: {stages: [prod]}\n  template: {}\n",
            ),
            Some("spec.account"),
        ),
        (
            "external-id-too-short",
            account(
                "short-external-id",
                &format!("{ROLE}  externalId: x\n  namespaceSelector: {{}}\n"),
            ),
            Some("spec.externalId"),
        ),
        (
            "external-id-pattern",
            account(
                "bad-external-id",
                &format!("{ROLE}  externalId: 'a b'\n  namespaceSelector: {{}}\n"),
            ),
            Some("spec.externalId"),
        ),
        (
            "role-name-pattern",
            account(
                "bad-role-name",
                "  roleArn: 'arn:aws:iam::111122223333:role/a b'\n  namespaceSelector: {}\n",
            ),
            Some("spec.roleArn"),
        ),
        // What only failed later, refused at admission now.
        (
            "guard-region-not-a-region",
            guard("bad-region", &format!("{GUARD_SPEC}  region: us east 1\n")),
            Some("spec.region"),
        ),
        (
            "policy-region-not-a-region",
            policy(
                "bad-region",
                "  region: useast1\n  selector: {stages: [prod]}\n  template: {}\n",
            ),
            Some("spec.region"),
        ),
        (
            "selector-label-key",
            account(
                "bad-selector-key",
                &format!("{ROLE}  namespaceSelector: {{matchLabels: {{-team: payments}}}}\n"),
            ),
            Some("spec.namespaceSelector.matchLabels"),
        ),
        (
            "selector-expression-key",
            account(
                "bad-expression-key",
                &format!(
                    "{ROLE}  namespaceSelector: {{matchExpressions: [{{key: 'a/b/c', operator: Exists}}]}}\n"
                ),
            ),
            Some("spec.namespaceSelector.matchExpressions[0].key"),
        ),
        (
            "selector-label-value",
            account(
                "bad-selector-value",
                &format!("{ROLE}  namespaceSelector: {{matchLabels: {{team: 'a b'}}}}\n"),
            ),
            Some("spec.namespaceSelector.matchLabels.team"),
        ),
        (
            "role-arn-partition",
            account(
                "bad-partition",
                "  roleArn: arn:aws-mars:iam::111122223333:role/a\n  namespaceSelector: {}\n",
            ),
            Some("spec.roleArn"),
        ),
        (
            "dashboard-enabled-null",
            guard(
                "null-dashboard",
                &format!("{GUARD_SPEC}  dashboard: {{enabled: null}}\n"),
            ),
            Some("spec.dashboard.enabled"),
        ),
        (
            "alarm-actions-null",
            guard(
                "null-actions",
                &format!("{GUARD_SPEC}  alarms: {{actions: null}}\n"),
            ),
            Some("spec.alarms.actions"),
        ),
        (
            "template-dashboard-enabled-null",
            policy(
                "null-dashboard",
                "  selector: {stages: [prod]}\n  template: {dashboard: {enabled: null}}\n",
            ),
            Some("spec.template.dashboard.enabled"),
        ),
        (
            "template-suspend-null",
            policy(
                "null-suspend",
                "  selector: {stages: [prod]}\n  template: {suspend: null}\n",
            ),
            Some("spec.template.suspend"),
        ),
        // HTTP APIs: one API, and only the controls AWS has for its kind.
        (
            "rest-and-http-api",
            guard(
                "both-apis",
                "  restApi: {name: a}\n  httpApi: {name: b}\n  stage: prod\n",
            ),
            Some("spec"),
        ),
        (
            "http-api-tracing",
            guard(
                "http-tracing",
                "  httpApi: {id: abc}\n  stage: prod\n  tracing: {}\n",
            ),
            Some("spec.tracing"),
        ),
        (
            "http-api-execution-logging",
            guard(
                "http-logging",
                "  httpApi: {id: abc}\n  stage: prod\n  executionLogging: {}\n",
            ),
            Some("spec.executionLogging"),
        ),
        (
            "http-api-usage-plan",
            guard(
                "http-plan",
                "  httpApi: {id: abc}\n  stage: prod\n  throttle: {usagePlan: {id: u}, \
                 rateLimit: 1, burstLimit: 1}\n",
            ),
            Some("spec.throttle"),
        ),
        (
            "rest-api-route-throttle",
            guard(
                "rest-routes",
                &format!(
                    "{GUARD_SPEC}  stageThrottle: {{rateLimit: 1, burstLimit: 1, routes: \
                     {{'GET /a': {{rateLimit: 1, burstLimit: 1}}}}}}\n"
                ),
            ),
            Some("spec.stageThrottle.routes"),
        ),
        (
            "rest-api-detailed-metrics",
            guard(
                "rest-metrics",
                &format!("{GUARD_SPEC}  detailedMetrics: true\n"),
            ),
            Some("spec.detailedMetrics"),
        ),
        (
            "route-key-without-method",
            guard(
                "bad-route",
                "  httpApi: {id: abc}\n  stage: prod\n  stageThrottle: {rateLimit: 1, \
                 burstLimit: 1, routes: {'/pets': {rateLimit: 1, burstLimit: 1}}}\n",
            ),
            Some("spec.stageThrottle.routes"),
        ),
        // WebSocket APIs: one API, the controls AWS has for the kind, route keys of its shape.
        (
            "http-and-websocket-api",
            guard(
                "two-v2-apis",
                "  httpApi: {name: a}\n  websocketApi: {name: b}\n  stage: prod\n",
            ),
            Some("spec"),
        ),
        (
            "websocket-api-tracing",
            guard(
                "ws-tracing",
                "  websocketApi: {id: abc}\n  stage: prod\n  tracing: {}\n",
            ),
            Some("spec.tracing"),
        ),
        (
            "websocket-api-usage-plan",
            guard(
                "ws-plan",
                "  websocketApi: {id: abc}\n  stage: prod\n  throttle: {usagePlan: {id: u}, \
                 rateLimit: 1, burstLimit: 1}\n",
            ),
            Some("spec.throttle"),
        ),
        (
            "websocket-api-deployments-verified",
            guard(
                "ws-deployments",
                "  websocketApi: {id: abc}\n  stage: prod\n  deployments: {}\n",
            ),
            None,
        ),
        (
            "websocket-api-execution-logging-metrics",
            guard(
                "ws-logging-metrics",
                "  websocketApi: {id: abc}\n  stage: prod\n  executionLogging: \
                 {detailedMetrics: true}\n",
            ),
            Some("spec.executionLogging.detailedMetrics"),
        ),
        (
            "websocket-api-latency-alarm",
            guard(
                "ws-latency",
                "  websocketApi: {id: abc}\n  stage: prod\n  alarms: {latency: {threshold: 5}}\n",
            ),
            Some("spec.alarms.latency"),
        ),
        (
            "websocket-api-latency-objective",
            guard(
                "ws-slo-latency",
                "  websocketApi: {id: abc}\n  stage: prod\n  slo: {availability: 99.9, \
                 latency: {thresholdMs: 500, objective: 99}}\n",
            ),
            Some("spec.slo.latency"),
        ),
        (
            "websocket-api-http-route-key",
            guard(
                "ws-http-route",
                "  websocketApi: {id: abc}\n  stage: prod\n  stageThrottle: {rateLimit: 1, \
                 burstLimit: 1, routes: {'GET /pets': {rateLimit: 1, burstLimit: 1}}}\n",
            ),
            Some("spec.stageThrottle.routes"),
        ),
        (
            "http-api-websocket-route-key",
            guard(
                "http-ws-route",
                "  httpApi: {id: abc}\n  stage: prod\n  stageThrottle: {rateLimit: 1, \
                 burstLimit: 1, routes: {sendMessage: {rateLimit: 1, burstLimit: 1}}}\n",
            ),
            Some("spec.stageThrottle.routes"),
        ),
        (
            "good-websocket-api-guard",
            guard(
                "ws-good",
                "  websocketApi: {name: chat}\n  stage: prod\n  executionLogging: {level: INFO}\n  \
                 detailedMetrics: true\n  accessLogging: {}\n  alarms: {}\n  slo: \
                 {availability: 99.9}\n  stageThrottle: {rateLimit: 10, burstLimit: 5, routes: \
                 {$connect: {rateLimit: 1, burstLimit: 1}, sendMessage: {rateLimit: 2, \
                 burstLimit: 2}}}\n",
            ),
            None,
        ),
        (
            "websocket-policy-template-tracing",
            policy(
                "ws-template",
                "  selector: {apiKinds: [WEBSOCKET], stages: [prod]}\n  template: {tracing: {}}\n",
            ),
            Some("spec.template"),
        ),
        // Objectives: reachable tiers and windows CloudWatch alarms can express.
        (
            "good-objective-with-tiers-latency-and-the-count-alarm",
            guard(
                "good-slo",
                &format!(
                    "{GUARD_SPEC}  alarms: {{fiveXXError: {{threshold: 5}}}}\n  slo: \
                     {{availability: 99.5, countAlarm: true, latency: {{thresholdMs: 800, \
                     objective: 99}}, tiers: [{{burnRate: 6, longWindowMinutes: 60, \
                     shortWindowMinutes: 5}}, {{burnRate: 2.5, longWindowMinutes: 2880, \
                     shortWindowMinutes: 120}}]}}\n"
                ),
            ),
            None,
        ),
        (
            "objective-of-100-percent",
            guard(
                "slo-100",
                &format!("{GUARD_SPEC}  slo: {{availability: 100}}\n"),
            ),
            Some("spec.slo"),
        ),
        (
            "objective-tier-that-can-never-fire",
            guard(
                "slo-unreachable",
                &format!(
                    "{GUARD_SPEC}  slo: {{availability: 99.9, tiers: [{{burnRate: 2000, \
                     longWindowMinutes: 60, shortWindowMinutes: 5}}]}}\n"
                ),
            ),
            Some("spec.slo"),
        ),
        (
            "objective-whole-share-1000x-on-99-9",
            guard(
                "slo-whole-share",
                &format!(
                    "{GUARD_SPEC}  slo: {{availability: 99.9, tiers: [{{burnRate: 1000, longWindowMinutes: 60, shortWindowMinutes: 5}}]}}\n"
                ),
            ),
            Some("spec.slo"),
        ),
        (
            "good-objective-tier-just-under-the-whole-share",
            guard(
                "slo-just-under",
                &format!(
                    "{GUARD_SPEC}  slo: {{availability: 99.9, tiers: [{{burnRate: 999.9, longWindowMinutes: 60, shortWindowMinutes: 5}}]}}\n"
                ),
            ),
            None,
        ),
        (
            "objective-of-0-percent",
            guard(
                "slo-0",
                &format!("{GUARD_SPEC}  slo: {{availability: 0}}\n"),
            ),
            Some("spec.slo"),
        ),
        (
            "objective-burn-rate-0",
            guard(
                "slo-burn-0",
                &format!(
                    "{GUARD_SPEC}  slo: {{availability: 99.9, tiers: [{{burnRate: 0, longWindowMinutes: 60, shortWindowMinutes: 5}}]}}\n"
                ),
            ),
            Some("spec.slo.tiers[0]"),
        ),
        (
            "objective-latency-objective-100",
            guard(
                "slo-latency-100",
                &format!(
                    "{GUARD_SPEC}  slo: {{availability: 99.9, latency: {{thresholdMs: 1000, objective: 100}}}}\n"
                ),
            ),
            Some("spec.slo.latency"),
        ),
        (
            "objective-latency-threshold-0",
            guard(
                "slo-latency-0",
                &format!(
                    "{GUARD_SPEC}  slo: {{availability: 99.9, latency: {{thresholdMs: 0, objective: 99}}}}\n"
                ),
            ),
            Some("spec.slo.latency"),
        ),
        (
            "objective-window-over-7-days",
            guard(
                "slo-8-days",
                &format!(
                    "{GUARD_SPEC}  slo: {{availability: 99.9, tiers: [{{burnRate: 1, longWindowMinutes: 11520, shortWindowMinutes: 60}}]}}\n"
                ),
            ),
            Some("spec.slo.tiers[0].longWindowMinutes"),
        ),
        (
            "objective-no-tier",
            guard(
                "slo-no-tier",
                &format!("{GUARD_SPEC}  slo: {{availability: 99.9, tiers: []}}\n"),
            ),
            Some("spec.slo.tiers"),
        ),
        (
            "objective-five-tiers",
            guard(
                "slo-five-tiers",
                &format!(
                    "{GUARD_SPEC}  slo: {{availability: 99.9, tiers: [{{burnRate: 1, longWindowMinutes: 60, shortWindowMinutes: 5}}, {{burnRate: 1, longWindowMinutes: 60, shortWindowMinutes: 5}}, {{burnRate: 1, longWindowMinutes: 60, shortWindowMinutes: 5}}, {{burnRate: 1, longWindowMinutes: 60, shortWindowMinutes: 5}}, {{burnRate: 1, longWindowMinutes: 60, shortWindowMinutes: 5}}]}}\n"
                ),
            ),
            Some("spec.slo.tiers"),
        ),
        (
            "alarm-period-20s-on-per-minute-metrics",
            guard(
                "period-20",
                &format!("{GUARD_SPEC}  alarms: {{fiveXXError: {{periodSeconds: 20}}}}\n"),
            ),
            Some("spec.alarms.fiveXXError.periodSeconds"),
        ),
        (
            "alarm-period-90s",
            guard(
                "period-90",
                &format!("{GUARD_SPEC}  alarms: {{latency: {{periodSeconds: 90}}}}\n"),
            ),
            Some("spec.alarms.latency"),
        ),
        (
            "alarm-half-hours-over-a-day",
            guard(
                "period-long",
                &format!(
                    "{GUARD_SPEC}  alarms: {{latency: {{periodSeconds: 1800, evaluationPeriods: 49}}}}\n"
                ),
            ),
            Some("spec.alarms.latency"),
        ),
        (
            "good-alarm-hours-over-seven-days",
            guard(
                "period-week",
                &format!(
                    "{GUARD_SPEC}  alarms: {{latency: {{periodSeconds: 3600, evaluationPeriods: 168}}}}\n"
                ),
            ),
            None,
        ),
        (
            "alarm-hours-over-seven-days",
            guard(
                "period-over-week",
                &format!(
                    "{GUARD_SPEC}  alarms: {{latency: {{periodSeconds: 3600, evaluationPeriods: 169}}}}\n"
                ),
            ),
            Some("spec.alarms.latency"),
        ),
        (
            "objective-short-window-not-shorter",
            guard(
                "slo-windows",
                &format!(
                    "{GUARD_SPEC}  slo: {{availability: 99.9, tiers: [{{burnRate: 2, \
                     longWindowMinutes: 60, shortWindowMinutes: 60}}]}}\n"
                ),
            ),
            Some("spec.slo.tiers[0]"),
        ),
        (
            "objective-day-long-window-not-whole-hours",
            guard(
                "slo-hours",
                &format!(
                    "{GUARD_SPEC}  slo: {{availability: 99.9, tiers: [{{burnRate: 2, \
                     longWindowMinutes: 1510, shortWindowMinutes: 60}}]}}\n"
                ),
            ),
            Some("spec.slo.tiers[0]"),
        ),
        (
            "objective-beside-a-hand-set-count-alarm",
            guard(
                "slo-count",
                &format!(
                    "{GUARD_SPEC}  alarms: {{fiveXXError: {{threshold: 5}}}}\n  slo: \
                     {{availability: 99.9}}\n"
                ),
            ),
            Some("spec.alarms.fiveXXError"),
        ),
        (
            "template-objective-beside-a-hand-set-count-alarm",
            policy(
                "slo-count",
                "  selector: {stages: [prod]}\n  template: {alarms: {fiveXXError: {enabled: \
                 true}}, slo: {availability: 99.9}}\n",
            ),
            Some("spec.template"),
        ),
        // Deployments: a window CloudWatch's minutes can judge, on REST API stages.
        (
            "good-deployments",
            guard(
                "good-deploys",
                &format!("{GUARD_SPEC}  deployments: {{verifyFor: 90m, rollback: Auto}}\n"),
            ),
            None,
        ),
        (
            "deployments-verified-for-two-days",
            guard(
                "deploys-long",
                &format!("{GUARD_SPEC}  deployments: {{verifyFor: 48h}}\n"),
            ),
            Some("spec.deployments"),
        ),
        (
            "deployments-verified-in-seconds",
            guard(
                "deploys-seconds",
                &format!("{GUARD_SPEC}  deployments: {{verifyFor: 30s}}\n"),
            ),
            Some("spec.deployments.verifyFor"),
        ),
        (
            "deployments-rollback-quoted-off",
            guard(
                "deploys-off",
                &format!("{GUARD_SPEC}  deployments: {{rollback: \"Off\"}}\n"),
            ),
            None,
        ),
        (
            "deployments-rollback-bare-off-is-false-in-yaml-1-1",
            guard(
                "deploys-bare-off",
                &format!("{GUARD_SPEC}  deployments: {{rollback: Off}}\n"),
            ),
            Some("spec.deployments.rollback"),
        ),
        (
            "deployments-rollback-unknown",
            guard(
                "deploys-rollback",
                &format!("{GUARD_SPEC}  deployments: {{rollback: Always}}\n"),
            ),
            Some("spec.deployments.rollback"),
        ),
        (
            "http-api-deployments-verified",
            guard(
                "http-deploys",
                "  httpApi: {id: abc}\n  stage: prod\n  deployments: {}\n",
            ),
            None,
        ),
        (
            "retention-cloudwatch-refuses",
            guard(
                "bad-retention",
                &format!("{GUARD_SPEC}  accessLogging: {{retentionDays: 31}}\n"),
            ),
            Some("spec.accessLogging"),
        ),
        (
            "http-only-policy-with-tracing",
            policy(
                "http-tracing",
                "  selector: {apiKinds: [HTTP], stages: [prod]}\n  template: {tracing: {}}\n",
            ),
            Some("spec.template"),
        ),
        (
            "policy-api-kind-twice",
            policy(
                "kind-twice",
                "  selector: {apiKinds: [REST, REST], stages: [prod]}\n  template: {}\n",
            ),
            Some("spec.selector.apiKinds"),
        ),
        (
            "good-mixed-policy",
            policy(
                "good-mixed",
                "  selector: {stages: [prod, $default]}\n  template: {tracing: {}, \
                 detailedMetrics: true, accessLogging: {}}\n",
            ),
            None,
        ),
        // Not YAML at all.
        (
            "yaml-syntax-error",
            guard("syntax", "  restApi: {name: [unclosed\n  stage: prod\n"),
            Some(""),
        ),
    ]
}

#[tokio::test]
#[ignore = "envtest: needs etcd and kube-apiserver (KUBEBUILDER_ASSETS); scripts/test runs it"]
async fn the_api_server_and_plan_f_give_the_same_verdict() {
    let server = support::envtest::api_server().await;
    // kubectl as `scripts/test` installs it.
    let tools = support::envtest::script_path("scripts/k8s-tools", "kubectl");
    let kubectl = tools.join("kubectl");
    let namespace: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": NAMESPACE}})).unwrap();
    Api::<Namespace>::all(server.admin().await)
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap();
    let dir = server.dir.join("verdicts");
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = server.dir.join("admin.kubeconfig");
    let table = table();
    assert!(table.iter().filter(|c| c.2.is_none()).count() >= 5);
    assert!(table.iter().filter(|c| c.2.is_some()).count() >= 30);
    let mut disagreements = Vec::new();
    for (case, document, field) in &table {
        let file = dir.join(format!("{case}.yaml"));
        std::fs::write(&file, document).unwrap();
        let file = file.to_str().unwrap();
        // As users apply files: kubectl's YAML reading and its strict field validation.
        let server = Command::new(&kubectl)
            .args(["create", "--kubeconfig"])
            .arg(&kubeconfig)
            .args(["-f", file])
            .output()
            .unwrap();
        let server_said = String::from_utf8_lossy(&server.stderr).into_owned();
        let cli = support::apigw_guard(&["plan", "-f", file]);
        let cli_said = String::from_utf8_lossy(&cli.stderr).into_owned();
        let verdicts = (server.status.success(), cli.status.code() != Some(2));
        match field {
            None if verdicts != (true, true) => disagreements.push(format!(
                "{case}: both must accept it; API server: {server_said}\nCLI: {cli_said}"
            )),
            Some(field) if verdicts != (false, false) => disagreements.push(format!(
                "{case}: both must refuse it (naming {field}); API server: {}\nCLI ({:?}): {cli_said}",
                if server.status.success() { "accepted".to_owned() } else { server_said },
                cli.status.code()
            )),
            Some("") => {
                // A document that is not YAML: both say so, the CLI with the line.
                let at_line = cli_said
                    .lines()
                    .any(|l| l.contains(": YAML syntax error: ") && is_at_a_line(l, file));
                if !at_line || !server_said.contains("yaml") {
                    disagreements.push(format!(
                        "{case}: a YAML error, the CLI's with its line; API server: {server_said}\nCLI: {cli_said}"
                    ));
                }
            }
            Some(field) => {
                // The refusal is the one meant, and the CLI names file, line and field.
                let at_line = cli_said
                    .lines()
                    .any(|l| l.contains(&format!(": {field}: ")) && is_at_a_line(l, file));
                if !server_said.contains(field) || !at_line {
                    disagreements.push(format!(
                        "{case}: both refuse it but not both for {field}; API server: {server_said}\nCLI: {cli_said}"
                    ));
                }
            }
            None => {}
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} documents:\n\n{}",
        disagreements.len(),
        table.len(),
        disagreements.join("\n\n")
    );
}

/// Whether an error line starts with `file:LINE: `.
fn is_at_a_line(line: &str, file: &str) -> bool {
    line.strip_prefix("error: ")
        .unwrap_or(line)
        .strip_prefix(&format!("{file}:"))
        .and_then(|rest| rest.split_once(": "))
        .is_some_and(|(number, _)| number.parse::<usize>().is_ok())
}
