//! The ApiGatewayGuardPolicy controller: finds the stages a policy matches (on a discovery
//! interval) and keeps one owned ApiGatewayGuard per stage equal to the template; the guards'
//! own controller does the rest. A change to one of its guards updates the policy's status
//! without reading AWS.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::BoxStream;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::reflector::Store;
use kube::runtime::reflector::store::Writer;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};

use crate::aws::{CallLog, RegionalClients};
use crate::core::crd::{ApiGatewayGuard, ApiGatewayGuardPolicy, ApiGatewayGuardPolicyStatus};
use crate::core::model::AwsError;
use crate::core::policy::{self, Coverage, Matched, POLICY_CREATED, POLICY_LABEL};
use crate::core::status::{Standing, kstatus, now, settle};
use crate::k8s::controller::AwsEvent;
use crate::k8s::recorder::Recorder;
use crate::k8s::telemetry::Metrics;
use crate::k8s::tenants::{Cluster, Tenants};
use crate::k8s::toolkit::{Error, Retry, event, publish_about, run_to_end, write_status};
use crate::reconcile;
use crate::reconcile::discovery::discover;

/// Held on every policy until its guards are deleted.
pub const FINALIZER: &str = "apigw-guard.dev/guards";
/// The field manager of the guards a policy keeps.
const FIELD_MANAGER: &str = "apigw-guard-policy";

/// What every policy reconcile shares.
pub struct Context {
    pub client: Client,
    /// The guards' clients: discovery reads the listings they share, under the same quotas.
    pub aws: Arc<RegionalClients>,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// How often each policy looks for new and gone stages.
    pub discovery: Duration,
    pub tenants: Arc<Tenants>,
    /// Every guard the guards' controller watches: who holds which stage, and each policy's
    /// own guards, read without asking the API server (a policy reconciles on every change
    /// of one of its guards, and listing them all each time does not scale).
    guards: Store<ApiGatewayGuard>,
    /// The last discovery of each policy (by uid).
    found: Mutex<HashMap<String, Found>>,
    /// When a policy whose discovery failed for a passing reason is tried again.
    retry: Retry,
}

#[derive(Clone)]
struct Found {
    at: Instant,
    generation: Option<i64>,
    matched: Result<Vec<Matched>, AwsError>,
}

impl Context {
    pub fn new(
        client: Client,
        aws: Arc<RegionalClients>,
        recorder: Recorder,
        metrics: Arc<Metrics>,
        discovery: Duration,
        tenants: Arc<Tenants>,
        guards: Store<ApiGatewayGuard>,
    ) -> Self {
        Self {
            client,
            aws,
            recorder,
            metrics,
            discovery,
            tenants,
            guards,
            found: Mutex::default(),
            retry: Retry::default(),
        }
    }

    /// Forgets the last discovery of the policy (by uid): an event said stages may have come
    /// or gone.
    pub fn rediscover(&self, uid: &str) {
        self.found
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uid);
    }

    /// The stages the policy matches: the last discovery while it is younger than the
    /// interval and of this generation, else a new one.
    async fn matched(&self, policy: &ApiGatewayGuardPolicy) -> Found {
        let uid = policy.uid().unwrap_or_default();
        let kept = self
            .found
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&uid)
            .cloned();
        // A retryable failure is tried again at once, not kept for an interval.
        let fresh = |f: &Found| {
            f.generation == policy.metadata.generation
                && f.at.elapsed() < self.discovery
                && f.matched
                    .as_ref()
                    .map_or_else(|err| !err.retryable, |_| true)
        };
        if let Some(found) = kept.filter(fresh) {
            return found;
        }
        let namespace = policy.namespace().unwrap_or_default();
        let spec = &policy.spec;
        let matched = match self
            .tenants
            .access(&namespace, spec.account.as_deref())
            .await
        {
            Err(err) => Err(err),
            Ok((identity, _)) => {
                let calls = CallLog::default();
                let region = spec.region.as_deref();
                let (apigateway, _) = self.aws.clients(&identity, region, &calls).await;
                let matched = discover(&apigateway, &spec.selector).await;
                self.metrics.aws_calls(&calls.snapshot());
                matched
            }
        };
        let found = Found {
            at: Instant::now(),
            generation: policy.metadata.generation,
            matched,
        };
        self.found
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(uid, found.clone());
        found
    }
}

/// The finalizer first, then keep the guards, or (on delete) delete them.
pub async fn reconcile(
    policy: Arc<ApiGatewayGuardPolicy>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let namespace = policy.namespace().unwrap_or_default();
    let api = Api::<ApiGatewayGuardPolicy>::namespaced(ctx.client.clone(), &namespace);
    finalizer(&api, FINALIZER, policy, |event| async {
        match event {
            finalizer::Event::Apply(policy) => apply(&policy, &ctx).await,
            finalizer::Event::Cleanup(policy) => cleanup(&policy, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

/// The guards the policy owns, by name: found by their controller owner reference, so a
/// label edited by hand (or a name no label can hold) orphans none of them.
fn children(
    ctx: &Context,
    policy: &ApiGatewayGuardPolicy,
) -> BTreeMap<String, Arc<ApiGatewayGuard>> {
    ctx.guards
        .state()
        .into_iter()
        .filter(|g| policy::owns(policy, g))
        .map(|g| (g.name_any(), g))
        .collect()
}

/// The guard the policy keeps for one stage ([`policy::guard`]), owned by the policy.
fn child(
    policy: &ApiGatewayGuardPolicy,
    name: &str,
    spec: &crate::core::crd::ApiGatewayGuardSpec,
) -> ApiGatewayGuard {
    let mut guard = policy::guard(policy, name, spec);
    guard.metadata.owner_references = policy.controller_owner_ref(&()).map(|o| vec![o]);
    guard
}

/// Whether an existing guard already is what the policy would write.
fn unchanged(existing: &ApiGatewayGuard, wanted: &ApiGatewayGuard) -> bool {
    let labels = existing.labels();
    existing.spec == wanted.spec
        && wanted
            .labels()
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
        && existing.annotations().get(POLICY_CREATED) == wanted.annotations().get(POLICY_CREATED)
}

async fn apply(policy: &ApiGatewayGuardPolicy, ctx: &Context) -> Result<Action, Error> {
    let namespace = policy.namespace().unwrap_or_default();
    let guards_api = Api::<ApiGatewayGuard>::namespaced(ctx.client.clone(), &namespace);
    // Until the guards are listed, a stage held by an explicit guard would look free.
    let key = key(policy);
    if ctx.guards.wait_until_ready().await.is_err() {
        return Ok(Action::requeue(ctx.retry.failed(&key)));
    }
    let found = ctx.matched(policy).await;
    let mut owned = children(ctx, policy);
    let (covered, problem) = match (&found.matched, policy::label_problem(policy)) {
        // A name no label value can hold: its guards could not be told apart by label.
        (_, Some(problem)) => (Vec::new(), Some(problem)),
        (Ok(matched), None) => {
            let all = ctx.guards.state();
            // The account reached is asked of STS only when another guard could hold a stage.
            let others = all.iter().any(|g| !policy::owns(policy, g));
            let own = match others && !matched.is_empty() {
                true => ctx.tenants.own_account(&ctx.aws).await,
                false => String::new(),
            };
            let scope = Cluster {
                tenants: &ctx.tenants,
                guards: &ctx.guards,
                aws: &ctx.aws,
            };
            let holds = reconcile::holds(&scope, &ctx.aws, policy, &own);
            (policy::coverage(policy, matched, &all, holds), None)
        }
        // Nothing is deleted on a failed discovery: a stage is only uncovered when AWS says
        // it is gone.
        (Err(err), None) => (Vec::new(), Some(err.clone())),
    };
    if problem.is_none() {
        let wanted: BTreeMap<&str, (&Matched, &crate::core::crd::ApiGatewayGuardSpec)> = covered
            .iter()
            .filter_map(|(stage, coverage)| match coverage {
                Coverage::Guard { name, spec } => Some((name.as_str(), (stage, spec.as_ref()))),
                _ => None,
            })
            .collect();
        for (name, (stage, spec)) in &wanted {
            let guard = child(policy, name, spec);
            let existing = owned.get(*name);
            if existing.is_some_and(|e| unchanged(e, &guard)) {
                continue;
            }
            let mut applied = guards_api
                .patch(
                    name,
                    &PatchParams::apply(FIELD_MANAGER).force(),
                    &Patch::Apply(&guard),
                )
                .await?;
            // Kept until the status is counted: without the field-manager records, which were
            // most of a 1,000-guard policy's peak memory (heaptrack) and are never read.
            applied.managed_fields_mut().clear();
            if existing.is_none() {
                let note = covered_note(policy, stage, name);
                publish(ctx, policy, "StageCovered", note).await;
            }
            owned.insert((*name).to_owned(), Arc::new(applied));
        }
        let gone: Vec<String> = owned
            .keys()
            .filter(|name| !wanted.contains_key(name.as_str()))
            .cloned()
            .collect();
        for name in gone {
            guards_api.delete(&name, &DeleteParams::default()).await?;
            owned.remove(&name);
            let note = format!(
                "guard {name} deleted: its stage no longer matches (or an explicit guard or an \
                 older policy has it)"
            );
            publish(ctx, policy, "StageUncovered", note).await;
        }
    }
    let status = build_status(policy, &covered, &owned, problem.as_ref(), &now());
    let api = Api::<ApiGatewayGuardPolicy>::namespaced(ctx.client.clone(), &namespace);
    let previous = policy.status.as_ref();
    write_status(&api, &policy.name_any(), FIELD_MANAGER, (previous, &status)).await?;
    let next = match &problem {
        Some(err) if err.retryable => ctx.retry.failed(&key),
        _ => {
            ctx.retry.succeeded(&key);
            ctx.discovery.saturating_sub(found.at.elapsed())
        }
    };
    Ok(Action::requeue(next.max(Duration::from_secs(1))))
}

/// The policy's status: its counts and stages not Ready, and kstatus conditions (Ready when
/// discovery worked and every guard it keeps is Ready).
pub fn build_status(
    policy: &ApiGatewayGuardPolicy,
    covered: &[(Matched, Coverage)],
    owned: &BTreeMap<String, Arc<ApiGatewayGuard>>,
    problem: Option<&AwsError>,
    now: &str,
) -> ApiGatewayGuardPolicyStatus {
    let previous = policy.status.clone().unwrap_or_default();
    let mut status = match problem {
        // What the last discovery found stays shown while this one failed.
        Some(_) => previous.clone(),
        None => policy::status(&policy.spec.template, covered, owned),
    };
    let mut conditions = match problem {
        Some(err) => {
            let message = format!("discovering stages: {}: {}", err.code, err.message);
            let retryable = err.retryable;
            kstatus(Standing::Failed { retryable }, &err.code, &message)
        }
        None if status.guarded == status.ready => {
            let message = format!(
                "{} stage(s) matched, {} guarded and Ready",
                status.matched, status.ready
            );
            kstatus(Standing::Ready, "AllGuarded", &message)
        }
        None => {
            let message = format!(
                "{} of {} guard(s) not Ready yet",
                status.guarded - status.ready,
                status.guarded
            );
            kstatus(Standing::Progressing, "GuardsNotReady", &message)
        }
    };
    settle(
        &mut conditions,
        &previous.conditions,
        policy.metadata.generation,
        now,
    );
    status.conditions = conditions;
    status.observed_generation = policy.metadata.generation;
    status
}

/// What the `StageCovered` event says of a new guard: the stage, and the template's sections
/// the stage's kind of API has no setting for, which the guard is made without.
fn covered_note(policy: &ApiGatewayGuardPolicy, stage: &Matched, guard: &str) -> String {
    let kind = stage.api.kind;
    let note = format!(
        "guarding {} {} with guard {guard}",
        kind.noun(),
        stage.describe()
    );
    match policy.spec.template.left_out(kind) {
        Some(left) => format!(
            "{note}, without the template's {} ({}s have no such setting)",
            left.sections.join(", "),
            kind.noun()
        ),
        None => note,
    }
}

/// Deleting a policy deletes its guards; each removes its alarms per its deletionPolicy.
async fn cleanup(policy: &ApiGatewayGuardPolicy, ctx: &Context) -> Result<Action, Error> {
    let namespace = policy.namespace().unwrap_or_default();
    let api = Api::<ApiGatewayGuard>::namespaced(ctx.client.clone(), &namespace);
    // Asked of the API server, not the store: a guard made a moment ago must not be missed
    // (deletes are rare, and nothing else would remove it where no garbage collector runs).
    let owned = api.list(&ListParams::default()).await?.items;
    for guard in owned.iter().filter(|g| policy::owns(policy, g)) {
        api.delete(&guard.name_any(), &DeleteParams::default())
            .await?;
    }
    ctx.found
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&policy.uid().unwrap_or_default());
    Ok(Action::await_change())
}

async fn publish(ctx: &Context, policy: &ApiGatewayGuardPolicy, reason: &str, note: String) {
    let event = event(EventType::Normal, reason, "Discover", note);
    publish_about(&ctx.recorder, policy, &event).await;
}

/// The policy as `namespace/name`: what its retries are counted and logged under.
fn key(policy: &ApiGatewayGuardPolicy) -> String {
    format!(
        "{}/{}",
        policy.namespace().unwrap_or_default(),
        policy.name_any()
    )
}

fn error_policy(policy: Arc<ApiGatewayGuardPolicy>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = key(&policy);
    ctx.retry.after("the policy", &key, error)
}

/// Runs the policy controller until `shutdown` completes; `watch` selects the policies (and
/// their guards carry the policy's labels), `writer` fills the store the events inbox reads,
/// and `triggers` are the policies events ask to rediscover.
pub async fn run(
    ctx: Arc<Context>,
    api: Api<ApiGatewayGuardPolicy>,
    watch: watcher::Config,
    writer: Writer<ApiGatewayGuardPolicy>,
    triggers: BoxStream<'static, AwsEvent>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let guards = Api::<ApiGatewayGuard>::all(ctx.client.clone());
    let reader = writer.as_reader();
    let policies = watcher(api, watch)
        .default_backoff()
        .reflect(writer)
        .applied_objects();
    let results = Controller::for_stream(policies, reader)
        .owns(guards, watcher::Config::default().labels(POLICY_LABEL))
        .watches_stream(triggers.map(Ok), |event| Some(event.target()))
        // A policy's guards change one after another (each reports Ready): their burst is
        // one reconcile, a second after it ends.
        .with_config(
            ControllerConfig::default()
                .concurrency(2)
                .debounce(Duration::from_secs(1)),
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx);
    run_to_end(results, "policy controller").await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{ApiKind, GuardedApi};

    fn policy() -> ApiGatewayGuardPolicy {
        serde_yaml::from_str(
            "apiVersion: apigw-guard.dev/v1alpha1
kind: ApiGatewayGuardPolicy
metadata: {name: fleet, namespace: ops, generation: 2}
spec:
  selector: {stages: [prod]}
  template: {tracing: {enabled: true}}
",
        )
        .unwrap()
    }

    fn covered(n: usize) -> Vec<(Matched, Coverage)> {
        let stages: Vec<Matched> = (0..n)
            .map(|i| Matched {
                api: GuardedApi {
                    kind: ApiKind::Rest,
                    id: format!("id{i}"),
                    name: format!("api-{i}"),
                    tags: Default::default(),
                },
                stage: "prod".to_owned(),
            })
            .collect();
        policy::coverage::<ApiGatewayGuard>(&policy(), &stages, &[], |_, _| true)
    }

    fn ready(status: &ApiGatewayGuardPolicyStatus) -> (String, String) {
        let c = status
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        (c.status.clone(), c.reason.clone())
    }

    #[test]
    fn ready_when_every_guard_is_ready() {
        let covered = covered(2);
        let owned: BTreeMap<String, Arc<ApiGatewayGuard>> = covered
            .iter()
            .map(|(_, c)| {
                let Coverage::Guard { name, spec } = c else {
                    panic!()
                };
                let mut guard = ApiGatewayGuard::new(name, (**spec).clone());
                guard.status = Some(crate::core::crd::ApiGatewayGuardStatus {
                    conditions: vec![crate::core::status::cond(
                        crate::core::crd::READY,
                        true,
                        "InSync",
                        "",
                    )],
                    ..Default::default()
                });
                (name.clone(), Arc::new(guard))
            })
            .collect();
        let status = build_status(&policy(), &covered, &owned, None, "t");
        assert_eq!(ready(&status), ("True".to_owned(), "AllGuarded".to_owned()));
        assert_eq!((status.matched, status.ready), (2, 2));
        assert_eq!(status.observed_generation, Some(2));
        let mut one_short = owned.clone();
        one_short.pop_last();
        let status = build_status(&policy(), &covered, &one_short, None, "t");
        assert_eq!(ready(&status).1, "GuardsNotReady");
        assert_eq!(status.not_ready[0].reason, "Pending");
    }

    #[test]
    fn a_failed_discovery_keeps_what_the_last_one_found_and_says_why() {
        let mut known = policy();
        known.status = Some(ApiGatewayGuardPolicyStatus {
            matched: 7,
            guarded: 7,
            ready: 7,
            ..Default::default()
        });
        let denied = AwsError::permanent("GetRestApis", "AccessDeniedException", "no");
        let status = build_status(&known, &[], &BTreeMap::new(), Some(&denied), "t");
        assert_eq!(ready(&status).1, "AccessDeniedException");
        assert_eq!(
            status.matched, 7,
            "no stage is dropped for want of a listing"
        );
        let stalled = status.conditions.iter().find(|c| c.type_ == "Stalled");
        assert_eq!(stalled.unwrap().status, "True");
    }

    #[test]
    fn the_covered_event_says_what_an_http_apis_guard_is_made_without() {
        let (rest, _) = &covered(1)[0];
        let http = Matched {
            api: GuardedApi {
                kind: ApiKind::Http,
                ..rest.api.clone()
            },
            stage: "$default".to_owned(),
        };
        assert_eq!(
            covered_note(&policy(), &http, "g"),
            "guarding HTTP API api-0/$default with guard g, without the template's tracing \
             (HTTP APIs have no such setting)"
        );
        assert_eq!(
            covered_note(&policy(), rest, "g"),
            "guarding REST API api-0/prod with guard g"
        );
    }

    #[test]
    fn an_unchanged_guard_is_not_written_again() {
        let (_, coverage) = &covered(1)[0];
        let Coverage::Guard { name, spec } = coverage else {
            panic!()
        };
        let wanted = child(&policy(), name, spec);
        let mut existing = wanted.clone();
        existing
            .metadata
            .labels
            .as_mut()
            .unwrap()
            .insert("extra".into(), "x".into());
        assert!(unchanged(&existing, &wanted));
        existing.spec.controls.suspend = true;
        assert!(!unchanged(&existing, &wanted));
        assert_eq!(
            wanted.labels().get(POLICY_LABEL).map(String::as_str),
            Some("fleet")
        );
    }
}
