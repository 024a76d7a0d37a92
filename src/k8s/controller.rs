//! The operator: a kube-rs Controller over `ApiGatewayGuard` that runs the same
//! observe -> plan -> apply as the CLI, behind a finalizer, and reports kstatus conditions
//! and events.

use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::api::core::v1::Namespace;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::reflector::store::Writer;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use tokio::sync::{Notify, OnceCell, Semaphore};
use tracing::{Instrument, info_span};

use crate::aws::{CallLog, CloudWatch, RegionalClients};
use crate::core::crd::{ApiGatewayGuard, AwsAccount, DeletionPolicy, READY};
use crate::core::events;
use crate::core::model::{AwsError, GuardId};
use crate::core::status::{self, now};
use crate::core::tenancy;
use crate::k8s::recorder::Recorder;
use crate::k8s::telemetry::Metrics;
use crate::k8s::tenants::{Cluster, Tenants};
use crate::k8s::toolkit::{Error, FIELD_MANAGER, Retry, publish_about, run_to_end, write_status};
use crate::reconcile::{self, delete_owned_alarms, owned_dashboards, owned_log_group};

mod written;
use written::Written;

/// Held on every guard until its cleanup has run.
pub const FINALIZER: &str = "apigw-guard.dev/cleanup";
/// How long the first reconciles wait at most for the first listing of guards to complete:
/// the watcher that started them is reading it, so only a failing listing takes this long.
const LISTING_WAIT: Duration = Duration::from_secs(30);
/// Reconciles at once when the context is not told otherwise (the CLI's `--concurrency`
/// default).
const DEFAULT_CONCURRENCY: usize = 4;
/// How often a deployment under verification is judged: CloudWatch's metrics are per minute.
const VERIFY_EVERY: Duration = Duration::from_secs(60);

/// What every reconcile shares: clients, the event recorder, metrics and per-guard backoff.
pub struct Context {
    pub client: Client,
    pub aws: Arc<RegionalClients>,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// How often an in-sync guard is re-read from AWS to catch drift.
    pub resync: Duration,
    /// Set when CloudTrail events arrive through queues: then polling is the safety net.
    pub events: Option<Arc<EventsHealth>>,
    /// Every guard the controller watches, to find two guarding one stage.
    guards: Store<ApiGatewayGuard>,
    /// When a guard that failed is tried again.
    retry: Retry,
    /// Done once every known stage was counted for the shared metric reads.
    stages_expected: OnceCell<()>,
    tenants: Arc<Tenants>,
    /// The reconciles that may run at once (`--concurrency`), handed out first come, first
    /// served: see [`reconcile`].
    slots: Arc<Semaphore>,
    /// How many reconciles of guards with work to do wait for a slot; resyncs wait for none.
    first: AtomicUsize,
    /// Told when no such reconcile waits any more.
    no_first: Notify,
    /// The status last written for each guard: a cached one behind it is read afresh.
    written: Written,
}

impl Context {
    pub fn new(
        client: Client,
        aws: Arc<RegionalClients>,
        recorder: Recorder,
        metrics: Arc<Metrics>,
        resync: Duration,
        guards: Store<ApiGatewayGuard>,
        tenants: Arc<Tenants>,
    ) -> Self {
        Self {
            client,
            aws,
            recorder,
            metrics,
            resync,
            guards,
            retry: Retry::default(),
            stages_expected: OnceCell::new(),
            tenants,
            events: None,
            slots: Arc::new(Semaphore::new(DEFAULT_CONCURRENCY)),
            first: AtomicUsize::new(0),
            no_first: Notify::new(),
            written: Written::default(),
        }
    }

    /// The context running at most `concurrency` reconciles at once.
    pub fn with_concurrency(mut self, concurrency: u16) -> Self {
        self.slots = Arc::new(Semaphore::new(usize::from(concurrency.max(1))));
        self
    }

    /// The context with events arriving through queues, whose health sets the resync.
    pub fn with_events(mut self, events: Arc<EventsHealth>) -> Self {
        self.events = Some(events);
        self
    }

    /// How long until an in-sync guard is read again: the events' safety-net interval while
    /// events flow, else the resync interval.
    pub fn resync_interval(&self) -> Duration {
        match &self.events {
            Some(events) if events.flowing() => events.resync,
            _ => self.resync,
        }
    }

    /// On the first reconcile of the process, counts the stage of every guard whose status
    /// names its REST API among those whose metrics are read together: a restarted operator
    /// then reads them in one GetMetricData per 100 stages, not one per guard.
    /// Every reconcile waits for it, so none reads metrics before the count; the first
    /// reconciles can start before the first listing of guards is complete, which it waits
    /// for (a fixed second was too short on a loaded machine: each guard then read alone).
    async fn expect_known_stages(&self) {
        self.stages_expected
            .get_or_init(|| async {
                let listed = tokio::time::timeout(LISTING_WAIT, self.guards.wait_until_ready());
                if !matches!(listed.await, Ok(Ok(()))) {
                    return;
                }
                for guard in self.guards.state() {
                    // Only a name AWS resolved (an unresolved guard shows its spec's name).
                    let Some((id, name)) = guard
                        .status
                        .as_ref()
                        .and_then(|s| Some((s.api_id.clone()?, s.api_name.clone()?)))
                    else {
                        continue;
                    };
                    let Some((kind, _)) = guard.spec.api() else {
                        continue;
                    };
                    let api = crate::core::model::GuardedApi {
                        kind,
                        id,
                        name,
                        tags: Default::default(),
                    };
                    let Some(identity) = self.tenants.identity(guard.spec.account.as_deref())
                    else {
                        continue;
                    };
                    let stage = api.metric_stage(&guard.spec.stage);
                    let region = guard.spec.region.as_deref();
                    self.aws.expect_metrics(&identity, region, [stage]).await;
                }
            })
            .await;
    }

    /// Where a guard's reconcile runs: the tenancy and the guards of this cluster.
    pub fn scope(&self) -> Cluster<'_> {
        Cluster {
            tenants: &self.tenants,
            guards: &self.guards,
            aws: &self.aws,
        }
    }

    /// The AWS account a guard or policy naming `account` (or none) reaches, as far as is
    /// known without asking AWS (the operator's own account once STS was asked).
    pub fn account_of(&self, account: Option<&str>) -> Option<String> {
        match account {
            None => self.tenants.own_account_known(),
            Some(_) => self.tenants.reached(account, ""),
        }
    }

    /// Asks STS which account the operator's own identity acts in, so [`Self::account_of`]
    /// knows it from then on.
    pub async fn learn_own_account(&self) {
        self.tenants.own_account(&self.aws).await;
    }
}

/// Whether CloudTrail events flow from the queues: each poll that reached a queue, and each
/// event, is noted; a queue unreachable for `UNREACHABLE` or silent for `max_silence` means
/// they do not, and the guards go back to the normal resync.
#[derive(Debug)]
pub struct EventsHealth {
    /// The resync while events flow (`--events-resync`).
    pub resync: Duration,
    /// How long without an event before the queues count as silent.
    pub max_silence: Duration,
    /// The first and the last poll that reached a queue.
    polled: Mutex<Option<(tokio::time::Instant, tokio::time::Instant)>>,
    heard: Mutex<Option<tokio::time::Instant>>,
}

/// How long after the last of a burst of events its reconcile starts.
const EVENTS_DEBOUNCE: Duration = Duration::from_secs(1);

/// How long every poll may fail before the queues count as unreachable.
const UNREACHABLE: Duration = Duration::from_secs(120);

impl EventsHealth {
    pub fn new(resync: Duration, max_silence: Duration) -> Self {
        Self {
            resync,
            max_silence,
            polled: Mutex::default(),
            heard: Mutex::default(),
        }
    }

    /// A poll reached a queue.
    pub fn polled(&self) {
        let mut polled = self.polled.lock().unwrap_or_else(|p| p.into_inner());
        let now = tokio::time::Instant::now();
        *polled = Some((polled.map_or(now, |(first, _)| first), now));
    }

    /// An event arrived.
    pub fn heard(&self) {
        *self.heard.lock().unwrap_or_else(|p| p.into_inner()) = Some(tokio::time::Instant::now());
    }

    /// Whether the queues were reached lately and were not silent for too long (silence is
    /// counted from the first poll that reached them).
    pub fn flowing(&self) -> bool {
        let polled = *self.polled.lock().unwrap_or_else(|p| p.into_inner());
        let heard = *self.heard.lock().unwrap_or_else(|p| p.into_inner());
        let Some((first, last)) = polled else {
            return false;
        };
        last.elapsed() < UNREACHABLE && heard.unwrap_or(first).elapsed() < self.max_silence
    }
}

/// Reconciles one guard: the finalizer first, then apply or cleanup, once a slot is free.
///
/// Slots are handed out in the order reconciles asked for them (tokio's semaphore is fair),
/// not by kube-runtime's scheduler: it holds what it cannot start yet in a hash set and starts
/// whichever it finds first there, so when resyncs ask for more than the slots can do, the
/// same guards keep being found and others wait for ever (guards applied to a running
/// operator were never reconciled). The controller itself starts every reconcile at once;
/// each waits here, small, and builds the work only once it has its slot.
///
/// A guard that has work to do (new, changed, being deleted) goes before resyncs of guards in
/// sync: a resync asks for a slot only while no such guard waits, so a thousand guards applied at
/// once are each reconciled before any is read again.
pub async fn reconcile(guard: Arc<ApiGatewayGuard>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.metrics.reconciles_waiting(1);
    let first = has_work(&guard);
    let slot = match first {
        true => {
            ctx.first.fetch_add(1, AtomicOrdering::SeqCst);
            let slot = ctx.slots.clone().acquire_owned().await;
            if ctx.first.fetch_sub(1, AtomicOrdering::SeqCst) == 1 {
                ctx.no_first.notify_waiters();
            }
            slot
        }
        false => {
            loop {
                let calm = ctx.no_first.notified();
                if ctx.first.load(AtomicOrdering::SeqCst) == 0 || ctx.slots.is_closed() {
                    break;
                }
                calm.await;
            }
            ctx.slots.clone().acquire_owned().await
        }
    };
    ctx.metrics.reconciles_waiting(-1);
    // Closed at shutdown: what has not started yet does not start.
    let Ok(_slot) = slot else {
        return Ok(Action::await_change());
    };
    Box::pin(reconcile_now(guard, ctx)).await
}

/// Whether the guard has work a resync does not: no finalizer yet, a spec its status has not
/// caught up with, or its deletion.
fn has_work(guard: &ApiGatewayGuard) -> bool {
    let observed = guard.status.as_ref().and_then(|s| s.observed_generation);
    guard.finalizers().is_empty()
        || observed != guard.metadata.generation
        || guard.metadata.deletion_timestamp.is_some()
}

async fn reconcile_now(guard: Arc<ApiGatewayGuard>, ctx: Arc<Context>) -> Result<Action, Error> {
    let id = GuardId::of(&guard);
    let span = reconcile_span(&id);
    async move {
        let started = Instant::now();
        let api: Api<ApiGatewayGuard> = Api::namespaced(ctx.client.clone(), &id.namespace);
        let result = finalizer(&api, FINALIZER, guard, |event| async {
            match event {
                finalizer::Event::Apply(guard) => apply(&guard, &ctx, &api).await,
                finalizer::Event::Cleanup(guard) => cleanup(&guard, &ctx).await,
            }
        })
        .await
        .map_err(|e| Error::Finalizer(Box::new(e)));
        if result.is_err() {
            ctx.metrics
                .reconciled("error", started.elapsed().as_secs_f64());
        }
        result
    }
    .instrument(span)
    .await
}

/// The span every line of one guard's reconcile is logged in: the guard as `namespace/name`
/// under a key of its own (a `name` field would collide with the span's own name in JSON).
pub fn reconcile_span(id: &GuardId) -> tracing::Span {
    info_span!("reconcile", guard = %id)
}

/// On a failed reconcile: retry with backoff, and say in words what failed and when it is
/// tried again.
pub fn error_policy(guard: Arc<ApiGatewayGuard>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.retry
        .after("the guard", &GuardId::of(&guard).to_string(), error)
}

async fn apply(
    guard: &ApiGatewayGuard,
    ctx: &Context,
    api: &Api<ApiGatewayGuard>,
) -> Result<Action, Error> {
    let started = Instant::now();
    // Decided only on the status last written: a cache behind it is read past.
    let uid = guard.uid().unwrap_or_default();
    let fresh;
    let guard = match ctx.written.is_current(&uid, guard.status.as_ref()) {
        true => guard,
        false => {
            tracing::debug!("the cached status is not the one last written: reading the guard");
            // Boxed: the reconcile future stays small enough for a test thread.
            fresh = Box::pin(api.get(&guard.name_any())).await.map(Box::new)?;
            &*fresh
        }
    };
    ctx.expect_known_stages().await;
    let id = GuardId::of(guard);
    let calls = CallLog::default();
    // Boxed: the whole reconcile future is large, and the controller nests it.
    let report = Box::pin(reconcile::guard(
        &ctx.scope(),
        &ctx.aws,
        guard,
        reconcile::Mode::Apply,
        &calls,
    ))
    .await;
    ctx.metrics.aws_calls(&calls.snapshot());
    let previous = guard.status.as_ref();
    let status = status::build(
        &guard.spec,
        guard.metadata.generation,
        &report,
        previous,
        &now(),
    );
    for event in events::for_reconcile(guard.metadata.generation, &report, previous, &status) {
        publish_about(&ctx.recorder, guard, &event).await;
    }
    if write_status(api, &id.name, FIELD_MANAGER, (previous, &status)).await? {
        ctx.written.remember(&uid, &status);
    }
    let ready = crate::core::crd::holds(&status.conditions, READY);
    ctx.metrics
        .guard_ready(&id.to_string(), Some(if ready { "true" } else { "false" }));
    ctx.metrics.reconciled(
        if ready { "ready" } else { "not_ready" },
        started.elapsed().as_secs_f64(),
    );
    tracing::info!(
        ready,
        actions = report.outcomes.len(),
        calls = %CallLog::summary(&calls.snapshot()),
        "reconciled"
    );
    let mut queued = false;
    for err in report.failures().filter(|e| e.is_queued()) {
        tracing::info!(operation = err.operation, "{}", err.message);
        queued = true;
    }
    ctx.metrics.usage_plan_turn(&id.to_string(), queued);
    Ok(match report.retryable_failure() {
        // Back exactly when the turn comes; waiting in line is not a failure to back off from.
        Some(turn) if report.waits_only_for_a_turn() => Action::requeue(turn),
        Some(asked) => Action::requeue(ctx.retry.failed(&id.to_string()).max(asked)),
        None => {
            ctx.retry.succeeded(&id.to_string());
            // A deployment under verification is judged every minute until its window ends.
            let verifying = status
                .deployment
                .as_ref()
                .is_some_and(|d| d.verdict == crate::core::deploys::VERIFYING);
            match verifying {
                true => Action::requeue(ctx.resync_interval().min(VERIFY_EVERY)),
                false => Action::requeue(ctx.resync_interval()),
            }
        }
    })
}

/// Deleting a guard: with `Delete`, remove the alarms it owns (tag-checked, by its own alarm
/// names); stage and usage-plan settings stay as they are either way.
async fn cleanup(guard: &ApiGatewayGuard, ctx: &Context) -> Result<Action, Error> {
    let id = GuardId::of(guard);
    ctx.written.forget(&guard.uid().unwrap_or_default());
    ctx.metrics.guard_ready(&id.to_string(), None);
    ctx.metrics.usage_plan_turn(&id.to_string(), false);
    ctx.retry.succeeded(&id.to_string());
    if guard.spec.controls.deletion_policy == DeletionPolicy::Retain {
        publish_about(
            &ctx.recorder,
            guard,
            &events::retained("deletionPolicy is Retain"),
        )
        .await;
        return Ok(Action::await_change());
    }
    if guard.spec.controls.suspend {
        publish_about(
            &ctx.recorder,
            guard,
            &events::retained("the guard is suspended (no AWS writes)"),
        )
        .await;
        return Ok(Action::await_change());
    }
    // Cleanup removes only what the guard itself made, so it needs the identity that made it
    // (the account's role, or the operator's own when spec.account came later) but not its
    // namespace rules: a guard whose namespace lost the account still cleans up after itself.
    let identity = match ctx.tenants.identity(tenancy::made_through(guard)) {
        Some(identity) => identity,
        None => {
            let err = tenancy::account_not_found(guard.spec.account.as_deref().unwrap_or_default());
            publish_about(&ctx.recorder, guard, &events::cleanup_blocked(&err)).await;
            return Err(Error::Aws(err));
        }
    };
    let calls = CallLog::default();
    let region = guard.spec.region.as_deref();
    let (_, cloudwatch) = ctx.aws.clients(&identity, region, &calls).await;
    let result = async {
        let names = delete_owned_alarms(&cloudwatch, &id).await?;
        // Only a guard that manages a dashboard looks for one: without the section the
        // dashboard is not the guard's business.
        let dashboards = match guard.spec.controls.dashboard {
            Some(_) => owned_dashboards(&cloudwatch, &id).await?,
            None => Vec::new(),
        };
        if !dashboards.is_empty() {
            cloudwatch.delete_dashboards(&dashboards).await?;
        }
        // The access log group only when this guard made it (its owner tag).
        let api_id = guard.status.as_ref().and_then(|s| s.api_id.as_deref());
        let log_group = owned_log_group(&cloudwatch, &id, &guard.spec, api_id).await?;
        if let Some(name) = &log_group {
            cloudwatch.delete_log_group(name).await?;
        }
        Ok::<_, AwsError>((names, dashboards, log_group))
    }
    .await;
    ctx.metrics.aws_calls(&calls.snapshot());
    let (names, dashboards, log_group) = result?;
    if let Some(name) = log_group {
        publish_about(&ctx.recorder, guard, &events::log_group_deleted(&name)).await;
    }
    if !names.is_empty() {
        publish_about(&ctx.recorder, guard, &events::alarms_deleted(&names)).await;
    }
    for name in dashboards {
        publish_about(&ctx.recorder, guard, &events::dashboard_deleted(&name)).await;
    }
    ctx.metrics.reconciled("deleted", 0.0);
    Ok(Action::await_change())
}

/// What makes a guard worth reconciling: a new generation (spec change), a finalizer change
/// or the start of its deletion. Status writes change none of them, so they cause no loop.
pub fn work_trigger(guard: &ApiGatewayGuard) -> Option<u64> {
    let meta = guard.meta();
    Some(
        std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
            .hash_one((
                meta.generation,
                meta.deletion_timestamp.is_some(),
                &meta.finalizers,
            )),
    )
}

/// What an AWS event reported (the event, e.g. UpdateStage, in its region), as the related
/// object of a reconcile it asks for of one guard or policy (`target`). Reconciles the events
/// inbox asks for are logged by kube-runtime with their reason, then
/// `related object updated: AwsEvent.v1.aws/UpdateStage.us-east-1` (a bare reconcile request
/// would say `unknown`).
#[derive(Clone, Debug, serde::Deserialize)]
pub struct AwsEvent {
    metadata: kube::api::ObjectMeta,
    /// The namespace (empty for none) and name of the guard or policy to reconcile.
    target: (String, String),
}

impl AwsEvent {
    /// `event` in `region` asks for a reconcile of `target`.
    pub fn new<K: Resource>(event: &str, region: &str, target: &ObjectRef<K>) -> Self {
        Self {
            metadata: kube::api::ObjectMeta {
                name: Some(event.to_owned()),
                namespace: Some(region.to_owned()),
                ..Default::default()
            },
            target: (
                target.namespace.clone().unwrap_or_default(),
                target.name.clone(),
            ),
        }
    }

    /// The guard or policy it asks to reconcile.
    pub fn target<K: Resource<DynamicType = ()>>(&self) -> ObjectRef<K> {
        let (namespace, name) = &self.target;
        match namespace.is_empty() {
            true => ObjectRef::new(name),
            false => ObjectRef::new(name).within(namespace),
        }
    }
}

impl Resource for AwsEvent {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    fn kind(_: &()) -> std::borrow::Cow<'_, str> {
        "AwsEvent".into()
    }

    fn group(_: &()) -> std::borrow::Cow<'_, str> {
        "aws".into()
    }

    fn version(_: &()) -> std::borrow::Cow<'_, str> {
        "v1".into()
    }

    fn plural(_: &()) -> std::borrow::Cow<'_, str> {
        "awsevents".into()
    }

    fn meta(&self) -> &kube::api::ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut kube::api::ObjectMeta {
        &mut self.metadata
    }
}

/// The writers of the stores the context reads: guards, AwsAccounts, namespaces.
pub struct Writers {
    pub guards: Writer<ApiGatewayGuard>,
    pub accounts: Writer<AwsAccount>,
    pub namespaces: Writer<PartialObjectMeta<Namespace>>,
}

/// Runs the controller until `shutdown` completes. A change to an AwsAccount reconciles the
/// guards that name it, a change to a namespace the guards in it: either may allow or refuse
/// them.
pub async fn run(
    ctx: Arc<Context>,
    api: Api<ApiGatewayGuard>,
    watch: watcher::Config,
    writers: Writers,
    triggers: (BoxStream<'static, AwsEvent>, BoxStream<'static, ()>),
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let Writers {
        guards: writer,
        accounts: account_writer,
        namespaces: namespace_writer,
    } = writers;
    let reader = ctx.guards.clone();
    let accounts = watcher(
        Api::<AwsAccount>::all(ctx.client.clone()),
        Default::default(),
    )
    .default_backoff()
    .reflect(account_writer)
    .touched_objects();
    let namespaces = Api::<PartialObjectMeta<Namespace>>::all(ctx.client.clone());
    let namespaces = watcher(namespaces, Default::default())
        .default_backoff()
        .modify(|ns| ns.managed_fields_mut().clear())
        .reflect(namespace_writer)
        .touched_objects();
    let guards_of = |matches: fn(&ApiGatewayGuard, &str) -> bool| {
        let store = reader.clone();
        move |name: String| {
            store
                .state()
                .into_iter()
                .filter(|guard| matches(guard, &name))
                .map(|guard| ObjectRef::from_obj(&*guard))
                .collect::<Vec<_>>()
        }
    };
    let naming = guards_of(|guard, name| guard.spec.account.as_deref() == Some(name));
    let within = guards_of(|guard, name| guard.namespace().as_deref() == Some(name));
    let stream = watcher(api, watch)
        .default_backoff()
        // Kept for every guard for as long as the operator runs, and never read: at 1,000
        // guards the field-manager records and kubectl's copy of the spec outweigh the rest.
        .modify(|guard| {
            guard.managed_fields_mut().clear();
            guard
                .annotations_mut()
                .remove("kubectl.kubernetes.io/last-applied-configuration");
        })
        .reflect(writer)
        .applied_objects()
        .predicate_filter(work_trigger, Default::default());
    // With events, a burst about one stage (a script, a console session) is one reconcile a
    // second after it ends.
    let debounce = match ctx.events {
        Some(_) => EVENTS_DEBOUNCE,
        None => Duration::ZERO,
    };
    let (events, all) = triggers;
    // At shutdown the reconciles waiting for a slot end at once; those running finish.
    let stopping = ctx.clone();
    let shutdown = async move {
        shutdown.await;
        stopping.slots.close();
        stopping.no_first.notify_waiters();
    };
    let results = Controller::for_stream(stream, reader)
        .watches_stream(accounts, move |account| naming(account.name_any()))
        .watches_stream(namespaces, move |ns| within(ns.name_any()))
        .watches_stream(events.map(Ok), |event| Some(event.target()))
        .reconcile_all_on(all)
        .with_config(
            // Unbounded here: `reconcile` waits for a slot, first come first served.
            ControllerConfig::default().debounce(debounce),
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx);
    run_to_end(results, "controller").await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JSON log line of a reconcile, as `run --log-format=json` writes it, carries the guard
    /// under `span.guard`, with no key twice.
    #[test]
    fn json_logs_name_the_guard_under_a_key_of_its_own() {
        let id = GuardId {
            namespace: "checkout".to_owned(),
            name: "checkout".to_owned(),
        };
        let text = crate::k8s::telemetry::logged(crate::k8s::telemetry::LogFormat::Json, || {
            reconcile_span(&id).in_scope(|| tracing::info!(ready = true, "reconciled"));
        });
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["span"]["guard"], "checkout/checkout", "{text}");
        assert_eq!(line["span"]["name"], "reconcile", "{text}");
        // serde_json keeps the last of a key given twice: count them in the text itself.
        assert_eq!(text.matches("\"name\"").count(), 1, "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn events_flow_until_the_queues_are_unreachable_or_silent() {
        let health = EventsHealth::new(Duration::from_secs(3600), Duration::from_secs(1800));
        assert!(!health.flowing(), "not before a queue was reached");
        health.polled();
        assert!(health.flowing());
        tokio::time::advance(Duration::from_secs(1700)).await;
        health.polled();
        assert!(health.flowing(), "quiet, but not for long yet");
        tokio::time::advance(Duration::from_secs(200)).await;
        health.polled();
        assert!(
            !health.flowing(),
            "silent for more than 30 min since the first poll"
        );
        health.heard();
        assert!(health.flowing(), "an event: flowing again");
        tokio::time::advance(Duration::from_secs(121)).await;
        assert!(!health.flowing(), "no poll reached a queue for two minutes");
        health.polled();
        assert!(health.flowing());
    }

    #[test]
    fn a_reconcile_an_event_asks_for_is_logged_with_the_event_as_its_reason() {
        let guard = ObjectRef::<ApiGatewayGuard>::new("orders-prod").within("payments");
        let event = AwsEvent::new("UpdateStage", "us-east-1", &guard);
        assert_eq!(event.target::<ApiGatewayGuard>(), guard);
        // What kube-runtime writes as the reconcile's `object.reason`.
        let reason = kube::runtime::controller::ReconcileReason::RelatedObjectUpdated {
            obj_ref: Box::new(ObjectRef::from_obj(&event).erase()),
        };
        assert_eq!(
            reason.to_string(),
            "related object updated: AwsEvent.v1.aws/UpdateStage.us-east-1"
        );
        let policy = ObjectRef::<crate::core::crd::AwsAccount>::new("cluster-scoped");
        let event = AwsEvent::new("CreateStage", "eu-west-1", &policy);
        assert_eq!(event.target::<crate::core::crd::AwsAccount>(), policy);
    }
}
