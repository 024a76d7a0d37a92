use super::*;
use crate::crd::{ApiGatewayGuardPolicySpec, GuardTemplate, TracingSpec};

fn api(id: &str, name: &str, tags: &[(&str, &str)]) -> RestApi {
    RestApi {
        id: id.to_owned(),
        name: name.to_owned(),
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn selector(tags: &[(&str, &str)], names: &[&str], stages: &[&str]) -> StageSelector {
    StageSelector {
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
                tracing: Some(TracingSpec { enabled: true }),
                ..Default::default()
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
        matches!(&covered[2].1, Coverage::Guard { spec, .. } if spec.rest_api.id.as_deref() == Some("c")),
        "a younger policy's guard does not keep the stage from an older one"
    );
    let Coverage::Guard { name, spec } = &covered[3].1 else {
        panic!("another stage of the API is no claim: {:?}", covered[3].1)
    };
    assert_eq!(name, &child_name("younger", &stages[3]));
    assert_eq!(spec.region.as_deref(), Some("us-east-1"));
    assert_eq!(spec.stage, "prod");
    assert_eq!(spec.tracing, Some(TracingSpec { enabled: true }));
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
        child.status = Some(crate::crd::ApiGatewayGuardStatus {
            conditions: vec![crate::status::cond("Ready", true, "InSync", "")],
            ..Default::default()
        });
        children.insert(name.clone(), child);
    }
    let status = status(&covered, &children);
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
