//! What a policy covers; pure. Which APIs (REST and HTTP) and stages its selector matches, the
//! name and spec of the guard each matched stage gets, whether an explicit guard or an older
//! policy has the stage already, and the policy's status from its guards.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};

use crate::core::crd::{
    ApiGatewayGuard, ApiGatewayGuardPolicy, ApiGatewayGuardPolicyStatus, ApiGatewayGuardSpec,
    GuardTemplate, StageProblem, StageSelector,
};
use crate::core::model::{AwsError, GuardedApi};

pub use crate::core::crd::POLICY_LABEL;
/// The annotation every guard of a policy carries: when its policy was made, so another policy
/// matching the same stage knows which of the two is older.
pub const POLICY_CREATED: &str = "apigw-guard.dev/policy-created";
/// How many stages `status.notReady` lists at most.
pub const NOT_READY_SHOWN: usize = 20;

/// Whether `text` matches `pattern`, where `*` matches any run of characters and `?` one.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(c) if *c == '?' || *c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Whether the selector takes this API: its kind, every tag, and one name glob if any are
/// given.
pub fn selects_api(selector: &StageSelector, api: &GuardedApi) -> bool {
    selector.api_kinds.contains(&api.kind)
        && selector
            .rest_api_tags
            .iter()
            .all(|(k, v)| api.tags.get(k) == Some(v))
        && (selector.rest_api_names.is_empty()
            || selector.rest_api_names.iter().any(|g| glob(g, &api.name)))
}

/// Whether the selector takes a stage of that name.
pub fn selects_stage(selector: &StageSelector, stage: &str) -> bool {
    selector.stages.iter().any(|g| glob(g, stage))
}

/// One stage the selector matched.
#[derive(Clone, Debug, PartialEq)]
pub struct Matched {
    pub api: GuardedApi,
    pub stage: String,
}

impl Matched {
    /// `api-name/stage`, as status and the CLI show it.
    pub fn describe(&self) -> String {
        format!("{}/{}", self.api.name, self.stage)
    }
}

/// The name of the guard a policy keeps for a stage: readable, a valid object name, at most
/// 63 characters, and distinct for two APIs of one name, of one kind or not (a short hash of
/// the API's id and stage, and of its kind for an HTTP API: a REST API's hash is as it was
/// before policies matched HTTP APIs, so existing guards keep their names).
pub fn child_name(policy: &str, matched: &Matched) -> String {
    let (id, stage) = (&matched.api.id, &matched.stage);
    let prefix = matched.api.kind.profile().name_hash_prefix;
    let hash = fnv(&format!("{prefix}{id}/{stage}"));
    let suffix = format!("-{:05x}", hash & 0xf_ffff);
    let raw = format!("{policy}-{}-{}", matched.api.name, matched.stage).to_ascii_lowercase();
    let mut name = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if !(c == '-' && (name.is_empty() || name.ends_with('-'))) {
            name.push(c);
        }
    }
    name.truncate(63 - suffix.len());
    let name = name.trim_end_matches('-').to_owned();
    format!("{name}{suffix}")
}

/// The guard a policy keeps for a stage, by the name [`child_name`] gives it: in the policy's
/// namespace, with the policy's labels (so an operator sharded by label reconciles it too) and
/// its own, and when the policy was made, so another policy knows which of the two is older.
pub fn guard(
    policy: &ApiGatewayGuardPolicy,
    name: &str,
    spec: &ApiGatewayGuardSpec,
) -> ApiGatewayGuard {
    let mut guard = ApiGatewayGuard::new(name, spec.clone());
    guard.metadata.namespace = policy.metadata.namespace.clone();
    let mut labels = policy.metadata.labels.clone().unwrap_or_default();
    labels.insert(
        POLICY_LABEL.to_owned(),
        policy.metadata.name.clone().unwrap_or_default(),
    );
    guard.metadata.labels = Some(labels);
    guard.metadata.annotations = Some([(POLICY_CREATED.to_owned(), created(policy))].into());
    guard
}

/// Why the policy's name cannot be the label value its guards carry (at most 63 characters;
/// the CRD refuses such names, but one made before that rule may exist). Its guards are kept
/// by owner reference, so deleting it still deletes them.
pub fn label_problem(policy: &ApiGatewayGuardPolicy) -> Option<AwsError> {
    let name = policy.metadata.name.as_deref().unwrap_or_default();
    (name.len() > 63).then(|| {
        AwsError::check(
            "InvalidName",
            format!(
                "the policy's name has {} characters; its guards carry it as the label \
                 {POLICY_LABEL}, which takes at most 63: recreate the policy under a shorter name",
                name.len()
            ),
        )
    })
}

/// FNV-1a, 64 bits: a hash that stays the same across processes and versions.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What the policy does about one matched stage.
#[derive(Clone, Debug, PartialEq)]
pub enum Coverage {
    /// It keeps a guard of this name and spec.
    Guard {
        name: String,
        spec: Box<ApiGatewayGuardSpec>,
    },
    /// A guard no policy owns has the stage (`namespace/name`): explicit beats policy.
    Skipped { by: String },
    /// An older policy has the stage (`namespace/name`).
    Conflicting { with: String },
}

/// The policy that owns a guard: `(created, namespace/name)`, as [`ApiGatewayGuard::policy`]
/// names it; the annotation says when that policy was made.
fn owning_policy(guard: &ApiGatewayGuard) -> Option<(String, String)> {
    let policy = guard.policy()?;
    let created = guard
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(POLICY_CREATED))
        .cloned()
        .unwrap_or_default();
    Some((created, policy))
}

/// Whether `policy` owns `guard` (by controller owner reference, whatever its labels say).
pub fn owns(policy: &ApiGatewayGuardPolicy, guard: &ApiGatewayGuard) -> bool {
    let uid = policy.metadata.uid.as_deref();
    uid.is_some()
        && guard
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.controller == Some(true) && Some(o.uid.as_str()) == uid)
}

fn policy_age(policy: &ApiGatewayGuardPolicy) -> (String, String) {
    (
        created(policy),
        format!(
            "{}/{}",
            policy.metadata.namespace.clone().unwrap_or_default(),
            policy.metadata.name.clone().unwrap_or_default()
        ),
    )
}

/// When the policy was made (RFC 3339), as its guards' annotation records it.
pub fn created(policy: &ApiGatewayGuardPolicy) -> String {
    policy
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0.to_string())
        .unwrap_or_default()
}

/// Whether `guard` names `matched`'s API and stage, whether its status resolved the API yet
/// or not: by id, or by the name (a reference by name must be unique in its region).
pub fn names_stage(guard: &ApiGatewayGuard, matched: &Matched) -> bool {
    guard.spec.stage == matched.stage
        && guard.names_api(
            matched.api.kind,
            Some(&matched.api.id),
            Some(&matched.api.name),
        )
}

/// What the policy does about each matched stage, given the guards that exist (in every
/// namespace). `holds` says whether a guard that names the stage ([`names_stage`]) holds it:
/// the same AWS account reached and region as the policy's, and allowed to act there (a
/// guard refused by tenancy never keeps a stage from a policy).
pub fn coverage<G: Borrow<ApiGatewayGuard>>(
    policy: &ApiGatewayGuardPolicy,
    matched: &[Matched],
    guards: &[G],
    holds: impl Fn(&ApiGatewayGuard, &Matched) -> bool,
) -> Vec<(Matched, Coverage)> {
    let name = policy.metadata.name.clone().unwrap_or_default();
    let me = policy_age(policy);
    let live = || {
        guards
            .iter()
            .map(Borrow::borrow)
            .filter(|g: &&ApiGatewayGuard| g.metadata.deletion_timestamp.is_none())
    };
    matched
        .iter()
        .map(|stage| {
            let holders = live().filter(|g| names_stage(g, stage) && holds(g, stage));
            // The oldest explicit guard is named, whatever order the guards come in.
            let mut explicit: Option<(Option<String>, String)> = None;
            let mut older = None;
            for guard in holders {
                let id = format!(
                    "{}/{}",
                    guard.metadata.namespace.clone().unwrap_or_default(),
                    guard.metadata.name.clone().unwrap_or_default()
                );
                let created = guard
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .map(|t| t.0.to_string());
                match owning_policy(guard) {
                    None => {
                        if explicit
                            .as_ref()
                            .is_none_or(|e| (&created, &id) < (&e.0, &e.1))
                        {
                            explicit = Some((created, id));
                        }
                    }
                    Some(other) if other.1 != me.1 && other < me => {
                        if older.as_ref().is_none_or(|o| &other < o) {
                            older = Some(other);
                        }
                    }
                    Some(_) => {}
                }
            }
            let coverage = match (explicit, older) {
                (Some((_, by)), _) => Coverage::Skipped { by },
                (None, Some((_, with))) => Coverage::Conflicting { with },
                (None, None) => Coverage::Guard {
                    name: child_name(&name, stage),
                    spec: Box::new(policy.spec.template.guard_spec(
                        &policy.spec,
                        stage.api.kind,
                        &stage.api.id,
                        &stage.stage,
                    )),
                },
            };
            (stage.clone(), coverage)
        })
        .collect()
}

/// The policy's status: counts over the matched stages, the first stages not guarded and
/// Ready with why, and what `template` has that its guards of each kind are made without.
/// `children` are the guards the policy owns, by name.
pub fn status<G: Borrow<ApiGatewayGuard>>(
    template: &GuardTemplate,
    covered: &[(Matched, Coverage)],
    children: &BTreeMap<String, G>,
) -> ApiGatewayGuardPolicyStatus {
    let mut status = ApiGatewayGuardPolicyStatus {
        matched: covered.len() as u32,
        ..Default::default()
    };
    let mut problems = Vec::new();
    let mut kinds = BTreeSet::new();
    for (stage, coverage) in covered {
        let problem = |guard: Option<String>, reason: &str, message: String| StageProblem {
            stage: stage.describe(),
            api_kind: stage.api.kind,
            guard,
            reason: reason.to_owned(),
            message,
        };
        match coverage {
            Coverage::Skipped { by } => {
                status.skipped += 1;
                problems.push(problem(
                    None,
                    "Skipped",
                    format!("guard {by} (no policy's) guards it"),
                ));
            }
            Coverage::Conflicting { with } => {
                status.conflicting += 1;
                problems.push(problem(
                    None,
                    "Conflicting",
                    format!("the older policy {with} guards it"),
                ));
            }
            Coverage::Guard { name, .. } => {
                status.guarded += 1;
                kinds.insert(stage.api.kind);
                let ready = children.get(name).and_then(|guard| {
                    let guard = guard.borrow();
                    crate::core::crd::condition(
                        &guard.status.as_ref()?.conditions,
                        crate::core::crd::READY,
                    )
                    .cloned()
                });
                match ready {
                    Some(c) if c.status == "True" => status.ready += 1,
                    Some(c) => problems.push(problem(Some(name.clone()), &c.reason, c.message)),
                    None => problems.push(problem(
                        Some(name.clone()),
                        "Pending",
                        "the guard has not reported yet".to_owned(),
                    )),
                }
            }
        }
    }
    problems.truncate(NOT_READY_SHOWN);
    status.not_ready = problems;
    status.left_out = kinds
        .into_iter()
        .filter_map(|kind| template.left_out(kind))
        .collect();
    status
}

#[cfg(test)]
mod tests;
