use super::*;
use crate::core::crd::{
    AlarmsSpec, ApiGatewayGuardPolicySpec, Controls, ExecutionLoggingSpec, ResourceRef,
    StageThrottleSpec, ThrottleLimits, TracingSpec, UsagePlanThrottleSpec,
};
use crate::core::model::ApiKind;

/// A REST API.
fn api(id: &str, name: &str, tags: &[(&str, &str)]) -> GuardedApi {
    GuardedApi {
        kind: ApiKind::Rest,
        id: id.to_owned(),
        name: name.to_owned(),
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// An HTTP API.
fn http(id: &str, name: &str, tags: &[(&str, &str)]) -> GuardedApi {
    GuardedApi {
        kind: ApiKind::Http,
        ..api(id, name, tags)
    }
}

/// A selector of both kinds, as one that names none.
fn selector(tags: &[(&str, &str)], names: &[&str], stages: &[&str]) -> StageSelector {
    StageSelector {
        api_kinds: vec![ApiKind::Rest, ApiKind::Http],
        rest_api_tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        rest_api_names: names.iter().map(|s| s.to_string()).collect(),
        stages: stages.iter().map(|s| s.to_string()).collect(),
    }
}

fn policy(name: &str, created: &str) -> ApiGatewayGuardPolicy {
    let mut policy = ApiGatewayGuardPolicy::new(
        name,
        ApiGatewayGuardPolicySpec {
            region: Some("us-east-1".to_owned()),
            account: None,
            selector: selector(&[], &[], &["prod"]),
            template: GuardTemplate {
                controls: Controls {
                    tracing: Some(TracingSpec { enabled: true }),
                    ..Default::default()
                },
            },
        },
    );
    policy.metadata.namespace = Some("pay".to_owned());
    policy.metadata.creation_timestamp = Some(
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(created.parse().unwrap()),
    );
    policy
}

fn guard(name: &str, api: &str, stage: &str, owner: Option<(&str, &str)>) -> ApiGatewayGuard {
    let mut guard: ApiGatewayGuard = serde_yaml::from_str(&format!(
        "apiVersion: apigw-guard.dev/v1alpha1
kind: ApiGatewayGuard
metadata: {{name: {name}, namespace: pay}}
spec: {{restApi: {{id: {api}}}, stage: {stage}, region: us-east-1}}
"
    ))
    .unwrap();
    if let Some((policy, created)) = owner {
        guard.metadata.labels = Some([(POLICY_LABEL.to_owned(), policy.to_owned())].into());
        guard.metadata.annotations = Some([(POLICY_CREATED.to_owned(), created.to_owned())].into());
    }
    guard
}

/// [`guard`], naming an HTTP API.
fn http_guard(name: &str, api: &str, stage: &str, owner: Option<(&str, &str)>) -> ApiGatewayGuard {
    let mut guard = guard(name, api, stage, owner);
    guard.spec.http_api = guard.spec.rest_api.take();
    guard
}

fn stage(api: GuardedApi, stage: &str) -> Matched {
    Matched {
        api,
        stage: stage.to_owned(),
    }
}

/// A template with every section, those of one kind only too.
fn full_template() -> GuardTemplate {
    let limits = ThrottleLimits {
        rate_limit: 10.0,
        burst_limit: 5,
    };
    GuardTemplate {
        controls: Controls {
            tracing: Some(TracingSpec { enabled: true }),
            execution_logging: Some(ExecutionLoggingSpec {
                level: Default::default(),
                data_trace: false,
                detailed_metrics: true,
            }),
            throttle: Some(UsagePlanThrottleSpec {
                usage_plan: ResourceRef {
                    name: Some("gold".to_owned()),
                    id: None,
                },
                rate_limit: 100.0,
                burst_limit: 50,
            }),
            stage_throttle: Some(StageThrottleSpec {
                rate_limit: 100.0,
                burst_limit: 50,
                routes: Some([("GET /pets".to_owned(), limits)].into()),
            }),
            detailed_metrics: Some(true),
            access_logging: Some(serde_yaml::from_str("{}").unwrap()),
            alarms: Some(serde_yaml::from_str("{}").unwrap()),
            ..Default::default()
        },
    }
}

#[test]
fn globs_match_as_shells_do() {
    assert!(glob("prod", "prod"));
    assert!(!glob("prod", "prod2"));
    assert!(glob("live-*", "live-eu"));
    assert!(glob("live-*", "live-"));
    assert!(!glob("live-*", "live"));
    assert!(glob("*-api", "orders-api"));
    assert!(glob("o?ders*", "orders-api"));
    assert!(glob("*a*b*", "xxaxxbxx"));
    assert!(!glob("*a*b", "xxaxxbxx"));
    assert!(glob("*", ""));
    // `$` is no special character: an HTTP API's default stage is matched by name or glob.
    assert!(glob("$default", "$default") && glob("$*", "$default") && glob("*", "$default"));
    assert!(!glob("default", "$default"));
}

#[test]
fn the_selector_takes_every_tag_one_name_and_one_stage_glob() {
    let s = selector(
        &[("team", "pay")],
        &["orders-*", "billing"],
        &["prod", "live-*"],
    );
    assert!(selects_api(
        &s,
        &api("1", "orders-api", &[("team", "pay"), ("x", "y")])
    ));
    assert!(selects_api(&s, &api("2", "billing", &[("team", "pay")])));
    assert!(!selects_api(
        &s,
        &api("3", "orders-api", &[("team", "ops")])
    ));
    assert!(!selects_api(&s, &api("4", "search", &[("team", "pay")])));
    let any_name = selector(&[("team", "pay")], &[], &["prod"]);
    assert!(selects_api(
        &any_name,
        &api("5", "search", &[("team", "pay")])
    ));
    assert!(selects_stage(&s, "prod") && selects_stage(&s, "live-eu"));
    assert!(!selects_stage(&s, "dev"));
}

#[test]
fn one_selector_matches_rest_and_http_apis_by_the_same_tags_names_and_stages() {
    let s = selector(&[("team", "pay")], &["orders-*"], &["prod", "$default"]);
    let fleet = [
        (api("r1", "orders-api", &[("team", "pay")]), true),
        (http("h1", "orders-api", &[("team", "pay")]), true),
        (
            http("h2", "orders-events", &[("team", "pay"), ("x", "y")]),
            true,
        ),
        (http("h3", "orders-api", &[("team", "ops")]), false),
        (api("r2", "orders-api", &[("team", "ops")]), false),
        (http("h4", "search", &[("team", "pay")]), false),
        (http("h5", "orders-untagged", &[]), false),
    ];
    for (api, selected) in &fleet {
        assert_eq!(selects_api(&s, api), *selected, "{api:?}");
    }
    assert!(selects_stage(&s, "$default") && selects_stage(&s, "prod"));
    assert!(!selects_stage(&s, "dev"));
    // A selector that names no kinds takes REST and HTTP APIs: WebSocket APIs only when named,
    // so a policy written before they were guarded does not start guarding them.
    let written: StageSelector = serde_yaml::from_str("{stages: [prod]}").unwrap();
    assert_eq!(written.api_kinds, vec![ApiKind::Rest, ApiKind::Http]);
}

#[test]
fn the_kind_selector_limits_matching_to_one_kind() {
    let only = |kind: ApiKind| StageSelector {
        api_kinds: vec![kind],
        ..selector(&[("team", "pay")], &[], &["prod"])
    };
    let (rest, http) = (
        api("r1", "orders", &[("team", "pay")]),
        http("h1", "orders", &[("team", "pay")]),
    );
    assert!(selects_api(&only(ApiKind::Http), &http));
    assert!(!selects_api(&only(ApiKind::Http), &rest));
    assert!(selects_api(&only(ApiKind::Rest), &rest));
    assert!(!selects_api(&only(ApiKind::Rest), &http));
    let written: StageSelector =
        serde_yaml::from_str("{apiKinds: [HTTP], stages: [$default]}").unwrap();
    assert_eq!(written.api_kinds, vec![ApiKind::Http]);
}

#[test]
fn each_kinds_guard_is_made_without_the_sections_that_kind_has_no_setting_for() {
    let mut me = policy("mixed", "2026-02-01T00:00:00Z");
    me.spec.template = full_template();
    let template = &me.spec.template;
    let rest = template.guard_spec(&me.spec, ApiKind::Rest, "r1", "prod");
    let http = template.guard_spec(&me.spec, ApiKind::Http, "h1", "$default");
    // Neither is a guard the API server (or `validate`) refuses.
    assert_eq!(crate::core::validate::validate(&rest), Vec::<String>::new());
    assert_eq!(crate::core::validate::validate(&http), Vec::<String>::new());

    assert_eq!(
        rest.api(),
        Some((
            ApiKind::Rest,
            &ResourceRef {
                name: None,
                id: Some("r1".to_owned())
            }
        ))
    );
    assert!(
        rest.controls.tracing.is_some()
            && rest.controls.execution_logging.is_some()
            && rest.controls.throttle.is_some()
    );
    assert_eq!(rest.controls.detailed_metrics, None);
    let throttle = rest.controls.stage_throttle.as_ref().unwrap();
    assert_eq!(
        (throttle.rate_limit, throttle.routes.as_ref()),
        (100.0, None)
    );

    assert_eq!(http.api().map(|(kind, _)| kind), Some(ApiKind::Http));
    assert_eq!(http.stage, "$default");
    assert!(
        http.controls.tracing.is_none()
            && http.controls.execution_logging.is_none()
            && http.controls.throttle.is_none()
    );
    assert_eq!(http.controls.detailed_metrics, Some(true));
    assert_eq!(
        http.controls.stage_throttle,
        template.controls.stage_throttle
    );
    // What both kinds have, both keep.
    assert!(rest.controls.alarms.is_some() && http.controls.alarms == rest.controls.alarms);
    assert!(
        rest.controls.access_logging.is_some()
            && http.controls.access_logging == rest.controls.access_logging
    );

    let sections = |kind| template.left_out(kind).map(|left| left.sections);
    assert_eq!(
        sections(ApiKind::Rest),
        Some(vec![
            "detailedMetrics".to_owned(),
            "stageThrottle.routes".to_owned()
        ])
    );
    assert_eq!(
        sections(ApiKind::Http),
        Some(vec![
            "tracing".to_owned(),
            "executionLogging".to_owned(),
            "throttle".to_owned()
        ])
    );
}

#[test]
fn a_template_without_a_kinds_sections_still_guards_that_kind() {
    let mut me = policy("alarms-only", "2026-02-01T00:00:00Z");
    me.spec.template.controls = Controls {
        alarms: Some(AlarmsSpec {
            actions: vec!["arn:aws:sns:us-east-1:123456789012:oncall".to_owned()],
            ..serde_yaml::from_str("{}").unwrap()
        }),
        ..Default::default()
    };
    let stages = [
        stage(api("r1", "orders", &[]), "prod"),
        stage(http("h1", "orders", &[]), "prod"),
    ];
    let covered = coverage::<ApiGatewayGuard>(&me, &stages, &[], |_, _| true);
    for (stage, coverage) in &covered {
        let Coverage::Guard { spec, .. } = coverage else {
            panic!("{stage:?} is guarded: {coverage:?}")
        };
        assert_eq!(spec.api().map(|(kind, _)| kind), Some(stage.api.kind));
        assert_eq!(spec.controls.alarms, me.spec.template.controls.alarms);
    }
    let status = status(
        &me.spec.template,
        &covered,
        &BTreeMap::<String, ApiGatewayGuard>::new(),
    );
    assert_eq!(status.guarded, 2);
    assert!(status.left_out.is_empty(), "{:?}", status.left_out);
}

#[test]
fn status_says_what_each_kinds_guards_are_made_without() {
    let mut me = policy("mixed", "2026-02-01T00:00:00Z");
    me.spec.template = full_template();
    let stages = [
        stage(api("r1", "orders", &[]), "prod"),
        stage(http("h1", "orders", &[]), "prod"),
        stage(http("h2", "events", &[]), "$default"),
    ];
    let covered = coverage::<ApiGatewayGuard>(&me, &stages, &[], |_, _| true);
    let reported = status(
        &me.spec.template,
        &covered,
        &BTreeMap::<String, ApiGatewayGuard>::new(),
    );
    let left: Vec<_> = reported
        .left_out
        .iter()
        .map(|l| (l.api_kind, l.sections.len()))
        .collect();
    assert_eq!(left, [(ApiKind::Rest, 2), (ApiKind::Http, 3)]);
    assert_eq!(
        reported
            .not_ready
            .iter()
            .map(|p| p.api_kind)
            .collect::<Vec<_>>(),
        [ApiKind::Rest, ApiKind::Http, ApiKind::Http]
    );
    // A kind the policy keeps no guard of is not reported.
    let explicit = [guard("hand-made", "r1", "prod", None)];
    let covered = coverage(&me, &stages, &explicit, |_, _| true);
    let reported = status(
        &me.spec.template,
        &covered,
        &BTreeMap::<String, ApiGatewayGuard>::new(),
    );
    assert_eq!(reported.left_out.len(), 1);
    assert_eq!(reported.left_out[0].api_kind, ApiKind::Http);
}

#[test]
fn a_rest_and_an_http_api_of_one_name_and_stage_get_distinct_guards() {
    // Even with one id: AWS gives the two kinds distinct ids, a local emulator need not.
    let (rest, http_stage) = (
        stage(api("a1b2c3", "Orders_API", &[]), "prod"),
        stage(http("a1b2c3", "Orders_API", &[]), "prod"),
    );
    // A REST API's guard keeps the name it had before policies matched HTTP APIs.
    assert_eq!(
        child_name("payments", &rest),
        "payments-orders-api-prod-07d9b"
    );
    assert_eq!(
        child_name("payments", &http_stage),
        "payments-orders-api-prod-97f3a"
    );
    let default = child_name(
        "payments",
        &stage(http("a1b2c3", "Orders_API", &[]), "$default"),
    );
    assert!(
        default.starts_with("payments-orders-api-default-"),
        "{default}"
    );

    let me = policy("payments", "2026-02-01T00:00:00Z");
    // A guard of the REST API's stage is no claim on the HTTP API's, and the other way round.
    let guards = [guard("by-hand", "a1b2c3", "prod", None)];
    let covered = coverage(&me, &[rest.clone(), http_stage.clone()], &guards, |_, _| {
        true
    });
    assert!(matches!(covered[0].1, Coverage::Skipped { .. }));
    assert!(
        matches!(&covered[1].1, Coverage::Guard { name, spec } if *name == child_name("payments", &http_stage) && spec.http_api.is_some())
    );
    let guards = [http_guard("by-hand", "a1b2c3", "prod", None)];
    let covered = coverage(&me, &[rest, http_stage], &guards, |_, _| true);
    assert!(matches!(covered[0].1, Coverage::Guard { .. }));
    assert!(matches!(covered[1].1, Coverage::Skipped { .. }));
}

#[test]
fn guard_names_are_valid_short_stable_and_distinct_per_api() {
    let stage = |id: &str, name: &str| Matched {
        api: api(id, name, &[]),
        stage: "prod".to_owned(),
    };
    let name = child_name("payments", &stage("a1b2c3", "Orders_API"));
    assert!(name.starts_with("payments-orders-api-prod-"), "{name}");
    assert_eq!(name, child_name("payments", &stage("a1b2c3", "Orders_API")));
    assert_ne!(name, child_name("payments", &stage("zz9999", "Orders_API")));
    let long = child_name("p", &stage("id", &"x".repeat(300)));
    assert!(long.len() <= 63, "{long}");
    assert!(
        long.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    );
    assert!(!long.contains("--"));
}

#[test]
fn explicit_guards_beat_policies_and_older_policies_beat_younger() {
    let me = policy("younger", "2026-02-01T00:00:00Z");
    let stages: Vec<Matched> = ["a", "b", "c", "d"]
        .iter()
        .map(|id| Matched {
            api: api(id, &format!("{id}-api"), &[]),
            stage: "prod".to_owned(),
        })
        .collect();
    let guards = [
        guard("hand-made", "a", "prod", None),
        guard("old", "b", "prod", Some(("older", "2026-01-01T00:00:00Z"))),
        guard("new", "c", "prod", Some(("newest", "2026-03-01T00:00:00Z"))),
        guard("hand-made-dev", "d", "dev", None),
    ];
    let in_region = |region: &'static str| {
        move |g: &ApiGatewayGuard, _: &Matched| g.spec.region.as_deref() == Some(region)
    };
    let covered = coverage(&me, &stages, &guards, in_region("us-east-1"));
    assert_eq!(
        covered[0].1,
        Coverage::Skipped {
            by: "pay/hand-made".to_owned()
        }
    );
    assert_eq!(
        covered[1].1,
        Coverage::Conflicting {
            with: "pay/older".to_owned()
        }
    );
    assert!(
        matches!(&covered[2].1, Coverage::Guard { spec, .. } if spec.rest_api.as_ref().and_then(|a| a.id.as_deref()) == Some("c")),
        "a younger policy's guard does not keep the stage from an older one"
    );
    let Coverage::Guard { name, spec } = &covered[3].1 else {
        panic!("another stage of the API is no claim: {:?}", covered[3].1)
    };
    assert_eq!(name, &child_name("younger", &stages[3]));
    assert_eq!(spec.region.as_deref(), Some("us-east-1"));
    assert_eq!(spec.stage, "prod");
    assert_eq!(spec.controls.tracing, Some(TracingSpec { enabled: true }));
    // A guard in another region is no claim either.
    let elsewhere = coverage(&me, &stages[..1], &guards[..1], in_region("eu-west-1"));
    assert!(matches!(elsewhere[0].1, Coverage::Guard { .. }));
    // Nor is a guard that may not act there (what `holds` says): it never displaces a policy.
    let refused = coverage(&me, &stages[..2], &guards[..2], |_, _| false);
    assert!(
        refused
            .iter()
            .all(|(_, c)| matches!(c, Coverage::Guard { .. }))
    );
}

#[test]
fn a_policys_guard_is_known_by_its_owner_reference_when_its_label_is_gone() {
    let mut older = policy("older", "2026-01-01T00:00:00Z");
    older.metadata.uid = Some("uid-older".to_owned());
    let me = policy("younger", "2026-02-01T00:00:00Z");
    let stage = Matched {
        api: api("b", "b-api", &[]),
        stage: "prod".to_owned(),
    };
    let mut child = guard("old", "b", "prod", Some(("older", "2026-01-01T00:00:00Z")));
    child.metadata.labels = None;
    child.metadata.owner_references = Some(vec![
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "apigw-guard.dev/v1alpha1".to_owned(),
            kind: "ApiGatewayGuardPolicy".to_owned(),
            name: "older".to_owned(),
            uid: "uid-older".to_owned(),
            controller: Some(true),
            ..Default::default()
        },
    ]);
    assert!(owns(&older, &child));
    assert!(!owns(&me, &child));
    let covered = coverage(&me, &[stage], &[child], |_, _| true);
    assert_eq!(
        covered[0].1,
        Coverage::Conflicting {
            with: "pay/older".to_owned()
        },
        "not taken for an explicit guard"
    );
}

#[test]
fn status_counts_each_stage_once_and_lists_what_is_not_ready() {
    let me = policy("p", "2026-02-01T00:00:00Z");
    let stages: Vec<Matched> = (0..25)
        .map(|i| Matched {
            api: api(&format!("id{i}"), &format!("api-{i}"), &[]),
            stage: "prod".to_owned(),
        })
        .collect();
    let guards = [guard("hand-made", "id0", "prod", None)];
    let covered = coverage(&me, &stages, &guards, |_, _| true);
    let mut children = BTreeMap::new();
    for (_, c) in &covered[1..3] {
        let Coverage::Guard { name, .. } = c else {
            panic!()
        };
        let mut child = guard(name, "x", "prod", Some(("p", "")));
        child.status = Some(crate::core::crd::ApiGatewayGuardStatus {
            conditions: vec![crate::core::status::cond("Ready", true, "InSync", "")],
            ..Default::default()
        });
        children.insert(name.clone(), child);
    }
    let status = status(&me.spec.template, &covered, &children);
    assert_eq!(
        (
            status.matched,
            status.guarded,
            status.ready,
            status.skipped,
            status.conflicting
        ),
        (25, 24, 2, 1, 0)
    );
    assert_eq!(status.not_ready.len(), NOT_READY_SHOWN);
    assert_eq!(status.not_ready[0].reason, "Skipped");
    assert_eq!(status.not_ready[1].reason, "Pending");
    assert_eq!(status.not_ready[1].stage, "api-3/prod");
}
