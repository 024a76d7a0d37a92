//! Reads shared by every guard of a region, so AWS cost grows with the number of APIs, not
//! guards times calls: REST APIs, HTTP APIs, usage plans, the account, the operator's alarms,
//! its dashboards (with when each was last modified) and its access log groups are listed in
//! pages once per window; stages are read per API (GetStages); a dashboard's body is read
//! (GetDashboard) only when the listing shows it new or modified since; alarm and log group
//! tags are kept until the operator itself writes the alarm or group.
//!
//! A write marks what it changed, and a listing fetched before that write is not used for it
//! again: the next read of the object asks AWS directly. Before any write to an alarm, a
//! dashboard or a log group the reconcile asks for a fresh read of it ([`CloudWatch::forget`],
//! [`CloudWatch::forget_dashboards`], [`CloudWatch::log_group`]), so a listing up to one window
//! old never decides who owns what the operator writes.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use aws_sdk_cloudwatch::primitives::DateTime;

use super::apigateway::{ApiListing, find_listed, unique};
use super::cloudwatch::now_secs;
use super::logs::{ListedLogGroup, observed};
use super::{ApiGateway, CloudWatch, SdkApiGateway, SdkCloudWatch};

use crate::core::crd::ResourceRef;
use crate::core::kind::Service;
use crate::core::model::{
    ALARM_PREFIX, AlarmConfig, ApiKind, AwsError, GuardedApi, ObjectiveMetrics, ObservedAlarm,
    ObservedLogGroup, PatchOp, StageKey, StageMetrics, StageSettings, Tag, UsagePlan,
};

/// A stage no guard asked about for this long is no longer read (its guard went away).
const FORGET_STAGES_AFTER: Duration = Duration::from_secs(3600);
/// How long an API's route keys are kept: they change only when its team edits its routes
/// (whose CloudTrail events expire them at once), they decide only which route throttles may
/// be written, and before an UpdateStage names a route they are read again once a sharing
/// window old. A steady resync reads them once an hour, not once a window.
const ROUTE_KEYS_KEPT: Duration = Duration::from_secs(3600);

/// A value read from AWS and when its read began.
struct Fetched<V> {
    at: Instant,
    value: Arc<V>,
}

impl<V> Clone for Fetched<V> {
    fn clone(&self) -> Self {
        Self {
            at: self.at,
            value: self.value.clone(),
        }
    }
}

/// One shared read. Callers queue on the lock, so a cold cache costs one fetch, not one per
/// guard; a failed fetch is not kept, so the next caller tries again.
struct Slot<V>(tokio::sync::Mutex<Option<Fetched<V>>>);

impl<V> Default for Slot<V> {
    fn default() -> Self {
        Self(tokio::sync::Mutex::new(None))
    }
}

impl<V> Slot<V> {
    /// The kept value if it is younger than `window` and was read after `stale_before`;
    /// otherwise what `fetch` reads now.
    async fn get<F, Fut>(
        &self,
        window: Duration,
        stale_before: Option<Instant>,
        fetch: F,
    ) -> Result<Fetched<V>, AwsError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, AwsError>>,
    {
        let mut kept = self.0.lock().await;
        if let Some(fetched) = kept.as_ref().filter(|f| {
            f.at.elapsed() < window && stale_before.is_none_or(|written| f.at > written)
        }) {
            return Ok(fetched.clone());
        }
        let at = Instant::now();
        let fetched = Fetched {
            at,
            value: Arc::new(fetch().await?),
        };
        *kept = Some(fetched.clone());
        Ok(fetched)
    }
}

/// Figures of many keys (stages) read together: every key asked about in the last hour is
/// read in the same calls once a window; a key new since the last read is read on its own.
struct Batch<K, V> {
    snapshot: Slot<HashMap<K, V>>,
    /// The keys asked about, and when they last were.
    asked: Mutex<HashMap<K, Instant>>,
    /// Keys read on their own since the last shared read began, with when.
    alone: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K, V> Default for Batch<K, V> {
    fn default() -> Self {
        Self {
            snapshot: Slot::default(),
            asked: Mutex::default(),
            alone: Mutex::default(),
        }
    }
}

impl<K: Clone + Eq + std::hash::Hash, V: Clone> Batch<K, V> {
    /// Counts `key` among those read together; every key asked about in the last hour.
    fn ask(&self, key: &K) -> Vec<K> {
        let mut asked = lock(&self.asked);
        asked.retain(|_, at| at.elapsed() < FORGET_STAGES_AFTER);
        asked.insert(key.clone(), Instant::now());
        asked.keys().cloned().collect()
    }

    /// `key`'s figures: from the shared read (`all` of every key asked about) when it is
    /// younger than `window` and read after `stale_before`, else `one` read on its own.
    async fn get<All, AllFut, One, OneFut>(
        &self,
        key: &K,
        window: Duration,
        stale_before: Option<Instant>,
        all: All,
        one: One,
    ) -> Result<V, AwsError>
    where
        All: FnOnce(Vec<K>) -> AllFut,
        AllFut: Future<Output = Result<HashMap<K, V>, AwsError>>,
        One: FnOnce() -> OneFut,
        OneFut: Future<Output = Result<V, AwsError>>,
    {
        let keys = self.ask(key);
        let snapshot = self
            .snapshot
            .get(window, stale_before, || all(keys))
            .await?;
        if let Some(value) = snapshot.value.get(key) {
            return Ok(value.clone());
        }
        let fresh_after = stale_before.max(Some(snapshot.at));
        let kept = lock(&self.alone)
            .get(key)
            .filter(|(at, _)| at.elapsed() < window && Some(*at) > fresh_after)
            .map(|(_, value)| value.clone());
        if let Some(value) = kept {
            return Ok(value);
        }
        let at = Instant::now();
        let value = one().await?;
        let mut alone = lock(&self.alone);
        alone.retain(|_, (at, _)| at.elapsed() < window);
        alone.insert(key.clone(), (at, value.clone()));
        Ok(value)
    }
}

/// When the operator last wrote each object (a stage's API, a usage plan, an alarm).
#[derive(Default)]
struct Writes(Mutex<HashMap<String, Instant>>);

impl Writes {
    fn record(&self, key: &str, window: Duration) {
        let mut writes = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // A write older than the window is older than every listing still in use.
        writes.retain(|_, at| at.elapsed() < window);
        writes.insert(key.to_owned(), Instant::now());
    }

    fn last(&self, key: &str) -> Option<Instant> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .copied()
    }

    /// Whether `key` was written after a read that began at `read_at`.
    fn after(&self, key: &str, read_at: Instant) -> bool {
        self.last(key).is_some_and(|written| written >= read_at)
    }
}

/// One API's stages by name, as GetStages returns them.
type StagesSlot = Slot<Vec<(String, StageSettings)>>;

/// What an API's stages and stage writes are kept under: REST and HTTP API ids are two
/// namespaces.
fn api_key(kind: ApiKind, api_id: &str) -> String {
    format!("{kind:?}/{api_id}")
}

/// The account one identity's credentials act in, once STS said: kept per identity, never
/// shared, since it is what tells a role that reached another account than it names.
/// Held across the one STS call, so callers at once wait for it rather than each asking.
pub type KeptAccountId = Arc<tokio::sync::Mutex<Option<String>>>;

/// What the guards of one AWS account and region share, whichever identity reaches it.
pub struct SharedReads {
    window: Duration,
    /// Listings read before this are not used again.
    expired: Mutex<Option<Instant>>,
    /// When an event last said something in the region changed: what is kept longer than a
    /// window (route keys) is not used from before it.
    changed: Mutex<Option<Instant>>,
    /// GetRestApis' listing, and GetApis' (every v2 kind's).
    v1_apis: Slot<ApiListing>,
    v2_apis: Slot<ApiListing>,
    /// Stages by [`api_key`].
    stages: Mutex<HashMap<String, Arc<StagesSlot>>>,
    /// HTTP APIs' route keys by API id.
    routes: Mutex<HashMap<String, Arc<Slot<Vec<String>>>>>,
    /// Names a lookup missed, with when the listing that lacked them was read: the same name
    /// is not looked for again in a listing no newer.
    missed: Mutex<HashMap<String, Instant>>,
    usage_plans: Slot<Vec<(String, UsagePlan)>>,
    account: Slot<Option<String>>,
    alarms: Slot<HashMap<String, ObservedAlarm>>,
    /// Tags by alarm ARN.
    tags: Mutex<HashMap<String, Vec<Tag>>>,
    /// Every guarded stage's metrics over the last window, read together.
    metrics: Batch<StageKey, StageMetrics>,
    /// The errors and requests of every stage with an objective over its window (days),
    /// read together once an hour.
    objectives: Batch<(StageKey, i32), ObjectiveMetrics>,
    /// The operator's dashboards (ListDashboards by [`dashboard_listing_prefix`]): when each
    /// was last modified, by name.
    dashboards: Slot<HashMap<String, Option<DateTime>>>,
    /// Dashboard bodies by name, each with the LastModified the listing showed before it was
    /// read.
    dashboard_bodies: Mutex<HashMap<String, (DateTime, String)>>,
    /// The access log groups under [`LOG_GROUP_PREFIX`] (DescribeLogGroups), by name.
    log_groups: Slot<HashMap<String, ListedLogGroup>>,
    /// Log group tags by name, as last read.
    log_group_tags: Mutex<HashMap<String, Vec<Tag>>>,
    stage_writes: Writes,
    plan_writes: Writes,
    alarm_writes: Writes,
    dashboard_writes: Writes,
    log_group_writes: Writes,
}

impl std::fmt::Debug for SharedReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedReads").finish_non_exhaustive()
    }
}

impl SharedReads {
    /// Listings are reused for `window`: the longest a change made by hand can go unseen,
    /// on top of the resync interval.
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            expired: Mutex::default(),
            changed: Mutex::default(),
            v1_apis: Slot::default(),
            v2_apis: Slot::default(),
            stages: Mutex::default(),
            routes: Mutex::default(),
            missed: Mutex::default(),
            usage_plans: Slot::default(),
            account: Slot::default(),
            alarms: Slot::default(),
            tags: Mutex::default(),
            metrics: Batch::default(),
            objectives: Batch::default(),
            dashboards: Slot::default(),
            dashboard_bodies: Mutex::default(),
            log_groups: Slot::default(),
            log_group_tags: Mutex::default(),
            stage_writes: Writes::default(),
            plan_writes: Writes::default(),
            alarm_writes: Writes::default(),
            dashboard_writes: Writes::default(),
            log_group_writes: Writes::default(),
        }
    }

    /// Counts `stages` among those whose metrics are read together, before any guard asks:
    /// a caller that knows its guards up front (the CLI, a file) pays one GetMetricData per
    /// 100 stages from the first read on.
    pub fn expect_metrics(&self, stages: impl IntoIterator<Item = StageKey>) {
        let now = Instant::now();
        lock(&self.metrics.asked).extend(stages.into_iter().map(|stage| (stage, now)));
    }

    /// Counts the stages `other` counted too (see [`Self::expect_metrics`]).
    pub fn expect_metrics_of(&self, other: &SharedReads) {
        let theirs = lock(&other.metrics.asked).clone();
        let mut ours = lock(&self.metrics.asked);
        for (stage, at) in theirs {
            let kept = ours.entry(stage).or_insert(at);
            *kept = (*kept).max(at);
        }
    }

    /// Whether `stage` is among those whose metrics are read together.
    #[cfg(test)]
    pub fn expects(&self, stage: &StageKey) -> bool {
        lock(&self.metrics.asked).contains_key(stage)
    }

    /// Ends the window now: the next read of every listing asks AWS. Kept tags and dashboard
    /// bodies stay (a body is used only while the listing shows it unmodified), and so do
    /// route keys, which are kept longer than a window.
    pub fn expire(&self) {
        *self.expired.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// An event said something here changed: the window ends, and route keys are read again.
    pub fn changed(&self) {
        self.expire();
        *self.changed.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// The later of the last expiry and `written`: a listing read before it is stale.
    fn stale_before(&self, written: Option<Instant>) -> Option<Instant> {
        let expired = *self.expired.lock().unwrap_or_else(|p| p.into_inner());
        expired.max(written)
    }

    fn listing_slot(&self, kind: ApiKind) -> &Slot<ApiListing> {
        match kind.profile().service {
            Service::V1 => &self.v1_apis,
            Service::V2 => &self.v2_apis,
        }
    }

    /// Whether a lookup of `what` that began at `began` and missed in the listing read at
    /// `listed` should read the listing again (what it looks for may be newer): not when that
    /// listing was read for this very lookup, nor when one no older already lacked it.
    fn look_again(&self, what: &str, began: Instant, listed: Instant) -> bool {
        let missed = lock(&self.missed).get(what).copied();
        listed < began && missed.is_none_or(|at| at < listed)
    }

    /// `what` is not in the listing read at `listed`.
    fn missed(&self, what: String, listed: Instant) {
        lock(&self.missed).insert(what, listed);
    }
}

/// The slot kept under `key` (made empty on first use): one per API.
fn slot_of<V>(slots: &Mutex<HashMap<String, Arc<Slot<V>>>>, key: &str) -> Arc<Slot<V>> {
    lock(slots).entry(key.to_owned()).or_default().clone()
}

/// The alarm-name prefix the shared listing covers: every alarm the operator names.
fn alarm_listing_prefix() -> String {
    format!("{ALARM_PREFIX}-")
}

/// The dashboard-name prefix the shared listing covers: every dashboard the operator names,
/// under today's names and the first ones.
fn dashboard_listing_prefix() -> String {
    format!("{ALARM_PREFIX}-")
}

/// The prefix of the access log groups the operator names (`model::access_log_group_name`):
/// the shared listing covers them; a group a spec names is read on its own.
const LOG_GROUP_PREFIX: &str = "/aws/apigateway/apigw-guard/";

/// [`ApiGateway`] reading through the region's [`SharedReads`].
#[derive(Clone)]
pub struct SharedApiGateway {
    sdk: SdkApiGateway,
    shared: Arc<SharedReads>,
}

impl SharedApiGateway {
    pub fn new(sdk: SdkApiGateway, shared: Arc<SharedReads>) -> Self {
        Self { sdk, shared }
    }

    async fn listing(&self, kind: ApiKind, refresh: bool) -> Result<Fetched<ApiListing>, AwsError> {
        let stale_before = self.shared.stale_before(refresh.then(Instant::now));
        self.shared
            .listing_slot(kind)
            .get(self.shared.window, stale_before, || self.sdk.listing(kind))
            .await
    }

    async fn stages(
        &self,
        kind: ApiKind,
        api_id: &str,
    ) -> Result<Fetched<Vec<(String, StageSettings)>>, AwsError> {
        let key = api_key(kind, api_id);
        slot_of(&self.shared.stages, &key)
            .get(
                self.shared.window,
                self.shared
                    .stale_before(self.shared.stage_writes.last(&key)),
                || self.sdk.stages(kind, api_id),
            )
            .await
    }

    async fn usage_plans(
        &self,
        refresh: bool,
    ) -> Result<Fetched<Vec<(String, UsagePlan)>>, AwsError> {
        let stale_before = self.shared.stale_before(refresh.then(Instant::now));
        self.shared
            .usage_plans
            .get(self.shared.window, stale_before, || self.sdk.usage_plans())
            .await
    }
}

fn find_plan(plans: &[(String, UsagePlan)], by: &ResourceRef) -> Result<UsagePlan, AwsError> {
    match (&by.id, &by.name) {
        (Some(id), _) => plans
            .iter()
            .find(|(_, plan)| plan.id == *id)
            .map(|(_, plan)| plan.clone())
            .ok_or_else(|| {
                AwsError::permanent(
                    "GetUsagePlans",
                    "NotFoundException",
                    format!("no usage plan {id}"),
                )
            }),
        (None, name) => {
            let name = name.as_deref().unwrap_or_default();
            let found = plans
                .iter()
                .filter(|(plan_name, _)| plan_name == name)
                .map(|(_, plan)| plan.clone())
                .collect();
            unique("usage plan", name, found, "GetUsagePlans")
        }
    }
}

/// Whether a lookup in a listing failed because the object is not in it: worth one fresh
/// listing, since the object may be newer than the listing.
fn not_listed(result: &Result<impl Sized, AwsError>) -> bool {
    matches!(result, Err(err) if err.code == "NotFoundException")
}

impl ApiGateway for SharedApiGateway {
    /// From the shared listing; an API it lacks is looked for once more in a new listing
    /// (it may be newer than the listing), unless the listing was read for this lookup or one
    /// as new already lacked it.
    async fn find_api(&self, kind: ApiKind, by: &ResourceRef) -> Result<GuardedApi, AwsError> {
        let began = Instant::now();
        let what = format!("{kind:?} {by:?}");
        let mut listing = self.listing(kind, false).await?;
        let mut found = find_listed(kind, &listing.value, by);
        if not_listed(&found) && self.shared.look_again(&what, began, listing.at) {
            listing = self.listing(kind, true).await?;
            found = find_listed(kind, &listing.value, by);
        }
        if not_listed(&found) {
            self.shared.missed(what, listing.at);
        }
        found
    }

    async fn get_api(&self, kind: ApiKind, id: &str) -> Result<GuardedApi, AwsError> {
        self.sdk.get_api(kind, id).await
    }

    /// The listing the guards of the region share.
    async fn list_apis(&self, kind: ApiKind) -> Result<Vec<GuardedApi>, AwsError> {
        let listing = self.listing(kind, false).await?;
        Ok(listing
            .value
            .apis
            .iter()
            .filter(|api| api.kind == kind)
            .cloned()
            .collect())
    }

    /// The stages listing the guards of the API share.
    async fn stage_names(&self, kind: ApiKind, api_id: &str) -> Result<Vec<String>, AwsError> {
        let stages = self.stages(kind, api_id).await?;
        Ok(stages.value.iter().map(|(name, _)| name.clone()).collect())
    }

    async fn get_stage(
        &self,
        kind: ApiKind,
        api_id: &str,
        stage: &str,
    ) -> Result<StageSettings, AwsError> {
        let stages = self.stages(kind, api_id).await?;
        match stages.value.iter().find(|(name, _)| name == stage) {
            Some((_, settings)) => Ok(settings.clone()),
            // A stage newer than the listing, or none: AWS's own answer either way.
            None => self.sdk.get_stage(kind, api_id, stage).await,
        }
    }

    async fn update_stage(
        &self,
        kind: ApiKind,
        api_id: &str,
        stage: &str,
        ops: &[PatchOp],
    ) -> Result<(), AwsError> {
        let result = self.sdk.update_stage(kind, api_id, stage, ops).await;
        self.shared
            .stage_writes
            .record(&api_key(kind, api_id), self.shared.window);
        result
    }

    async fn roll_back_stage(
        &self,
        kind: ApiKind,
        api_id: &str,
        stage: &str,
        deployment_id: &str,
    ) -> Result<(), AwsError> {
        let result = self
            .sdk
            .roll_back_stage(kind, api_id, stage, deployment_id)
            .await;
        self.shared
            .stage_writes
            .record(&api_key(kind, api_id), self.shared.window);
        result
    }

    /// One listing per API an hour (or until an event expires it), for every guard of its
    /// stages.
    async fn route_keys(&self, api_id: &str) -> Result<Vec<String>, AwsError> {
        let slot = slot_of(&self.shared.routes, api_id);
        let stale_before = *self
            .shared
            .changed
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let kept = ROUTE_KEYS_KEPT.max(self.shared.window);
        let keys = slot
            .get(kept, stale_before, || self.sdk.route_keys(api_id))
            .await?;
        Ok(keys.value.to_vec())
    }

    fn forget_route_keys(&self, api_id: &str) -> bool {
        let slot = slot_of(&self.shared.routes, api_id);
        // A read in flight is being made now: fresh enough.
        let Ok(mut kept) = slot.0.try_lock() else {
            return false;
        };
        match kept.as_ref() {
            Some(fetched) if fetched.at.elapsed() >= self.shared.window => {
                *kept = None;
                true
            }
            _ => false,
        }
    }

    /// Not shared: read once per new deployment a guard sees.
    async fn deployment_made(
        &self,
        kind: ApiKind,
        api_id: &str,
        deployment_id: &str,
    ) -> Result<Option<i64>, AwsError> {
        self.sdk.deployment_made(kind, api_id, deployment_id).await
    }

    async fn disable_access_logs(&self, api_id: &str, stage: &str) -> Result<(), AwsError> {
        let result = self.sdk.disable_access_logs(api_id, stage).await;
        self.shared
            .stage_writes
            .record(&api_key(ApiKind::Http, api_id), self.shared.window);
        result
    }

    async fn find_usage_plan(&self, by: &ResourceRef) -> Result<UsagePlan, AwsError> {
        let began = Instant::now();
        let what = format!("usage plan {by:?}");
        let mut plans = self.usage_plans(false).await?;
        let mut found = find_plan(&plans.value, by);
        if not_listed(&found) && self.shared.look_again(&what, began, plans.at) {
            plans = self.usage_plans(true).await?;
            found = find_plan(&plans.value, by);
        }
        if not_listed(&found) {
            self.shared.missed(what, plans.at);
        }
        match found {
            Ok(plan) if self.shared.plan_writes.after(&plan.id, plans.at) => {
                self.sdk
                    .find_usage_plan(&ResourceRef {
                        id: Some(plan.id),
                        name: None,
                    })
                    .await
            }
            other => other,
        }
    }

    async fn update_usage_plan(&self, id: &str, ops: &[PatchOp]) -> Result<(), AwsError> {
        let result = self.sdk.update_usage_plan(id, ops).await;
        self.shared.plan_writes.record(id, self.shared.window);
        result
    }

    async fn cloudwatch_role_arn(&self) -> Result<Option<String>, AwsError> {
        let account = self
            .shared
            .account
            .get(self.shared.window, self.shared.stale_before(None), || {
                self.sdk.cloudwatch_role_arn()
            })
            .await?;
        Ok(account.value.as_ref().clone())
    }
}

/// [`CloudWatch`] reading through the region's [`SharedReads`].
#[derive(Clone)]
pub struct SharedCloudWatch {
    sdk: SdkCloudWatch,
    shared: Arc<SharedReads>,
    account_id: KeptAccountId,
    /// The dashboards this client answered for (one reconcile's), each with whether the answer
    /// came from AWS now (true) or from what was kept (false): only a kept one is read again
    /// before a write.
    dashboard_answers: Arc<Mutex<HashMap<String, bool>>>,
}

impl SharedCloudWatch {
    pub fn new(sdk: SdkCloudWatch, shared: Arc<SharedReads>, account_id: KeptAccountId) -> Self {
        Self {
            sdk,
            shared,
            account_id,
            dashboard_answers: Arc::default(),
        }
    }

    /// The dashboard `name` was answered for, from AWS now or from what was kept.
    fn answered(&self, name: &str, afresh: bool) {
        lock(&self.dashboard_answers).insert(name.to_owned(), afresh);
    }

    /// The dashboards were written: what is kept of them is stale for every client.
    fn dashboards_written(&self, names: &[String]) {
        let mut bodies = lock(&self.shared.dashboard_bodies);
        let mut answers = lock(&self.dashboard_answers);
        for name in names {
            self.shared
                .dashboard_writes
                .record(name, self.shared.window);
            bodies.remove(name);
            answers.remove(name);
        }
    }

    /// `group` with the tags kept from its last read with tags, if any; a group gone loses
    /// them.
    fn with_kept_tags(&self, name: &str, mut group: ObservedLogGroup) -> ObservedLogGroup {
        let mut kept = lock(&self.shared.log_group_tags);
        match group.found.as_mut() {
            Some(found) => found.tags = kept.get(name).cloned(),
            None => {
                kept.remove(name);
            }
        }
        group
    }
}

/// A std mutex's value; a panic elsewhere while holding it leaves nothing half-written here.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl CloudWatch for SharedCloudWatch {
    async fn describe_alarms(&self, names: &[String]) -> Result<Vec<ObservedAlarm>, AwsError> {
        let prefix = alarm_listing_prefix();
        if !names.iter().all(|name| name.starts_with(&prefix)) {
            return self.sdk.describe_alarms(names).await;
        }
        let listing = self
            .shared
            .alarms
            .get(
                self.shared.window,
                self.shared.stale_before(None),
                || async {
                    let alarms = self.sdk.alarms_with_prefix(&prefix).await?;
                    Ok(alarms.into_iter().map(|a| (a.name.clone(), a)).collect())
                },
            )
            .await?;
        let (written, listed): (Vec<String>, Vec<String>) = names
            .iter()
            .cloned()
            .partition(|name| self.shared.alarm_writes.after(name, listing.at));
        let mut alarms: Vec<ObservedAlarm> = listed
            .iter()
            .filter_map(|name| listing.value.get(name).cloned())
            .collect();
        if !written.is_empty() {
            alarms.extend(self.sdk.describe_alarms(&written).await?);
        }
        Ok(alarms)
    }

    fn kept_tags(&self, arn: &str) -> Option<Vec<Tag>> {
        self.shared
            .tags
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(arn)
            .cloned()
    }

    async fn list_tags(&self, arn: &str) -> Result<Vec<Tag>, AwsError> {
        if let Some(tags) = self.kept_tags(arn) {
            return Ok(tags);
        }
        let tags = self.sdk.list_tags(arn).await?;
        self.shared
            .tags
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(arn.to_owned(), tags.clone());
        Ok(tags)
    }

    /// Every stage guards asked about in the last hour is read in the same GetMetricData
    /// calls (100 stages a call) once a window; a stage new since then is read on its own.
    async fn stage_metrics(&self, key: &StageKey) -> Result<StageMetrics, AwsError> {
        let shared = &self.shared;
        shared
            .metrics
            .get(
                key,
                shared.window,
                shared.stale_before(None),
                |stages| async move { self.sdk.metrics_of(&stages).await },
                || self.sdk.stage_metrics(key),
            )
            .await
    }

    /// Read on its own: only stages verifying a deployment ask, each for its own minutes.
    async fn deployment_metrics(
        &self,
        stage: &StageKey,
        start: i64,
        length: i64,
    ) -> Result<(StageMetrics, StageMetrics), AwsError> {
        self.sdk.deployment_metrics(stage, start, length).await
    }

    /// Read together for every stage with an objective, once an hour: the figures cover
    /// whole hours, so a read within the hour would bring nothing new. A stage the hour's read
    /// did not cover (a new guard, a fresh process) is read with every other such stage once
    /// that read is a window old: until then it is not read (`None`), never on its own.
    async fn objective_metrics(
        &self,
        stage: &StageKey,
        window_days: i32,
    ) -> Result<Option<ObjectiveMetrics>, AwsError> {
        let batch = &self.shared.objectives;
        let key = (stage.clone(), window_days);
        let keys = batch.ask(&key);
        let since_the_hour = Duration::from_secs(now_secs().rem_euclid(3600) as u64);
        let read = |keys: Vec<(StageKey, i32)>| async move { self.sdk.objectives_of(&keys).await };
        let snapshot = batch
            .snapshot
            .get(since_the_hour, None, || read(keys.clone()))
            .await?;
        if let Some(figures) = snapshot.value.get(&key) {
            return Ok(Some(figures.clone()));
        }
        let snapshot = batch
            .snapshot
            .get(self.shared.window, None, || read(keys))
            .await?;
        Ok(snapshot.value.get(&key).cloned())
    }

    async fn put_alarm(&self, alarm: &AlarmConfig, tags: &[Tag]) -> Result<(), AwsError> {
        let result = self.sdk.put_alarm(alarm, tags).await;
        self.forget(std::slice::from_ref(&alarm.name));
        result
    }

    async fn tag_alarm(&self, arn: &str, tags: &[Tag]) -> Result<(), AwsError> {
        let result = self.sdk.tag_alarm(arn, tags).await;
        if let Some((_, name)) = arn.rsplit_once(":alarm:") {
            self.forget(&[name.to_owned()]);
        }
        result
    }

    async fn delete_alarms(&self, names: &[String]) -> Result<(), AwsError> {
        let result = self.sdk.delete_alarms(names).await;
        self.forget(names);
        result
    }

    fn region(&self) -> &str {
        self.sdk.region()
    }

    /// Read once per identity, whatever the region: credentials do not change account.
    async fn account_id(&self) -> Result<String, AwsError> {
        let mut kept = self.account_id.lock().await;
        if let Some(id) = kept.as_ref() {
            return Ok(id.clone());
        }
        let id = self.sdk.account_id().await?;
        *kept = Some(id.clone());
        Ok(id)
    }

    /// The operator's dashboards from the shared listing; a body is read (GetDashboard) only
    /// when the listing shows the dashboard new or modified since it was last read, or written
    /// by this process since the listing. Another name is read on its own.
    async fn get_dashboard(&self, name: &str) -> Result<Option<String>, AwsError> {
        let began = Instant::now();
        let prefix = dashboard_listing_prefix();
        if !name.starts_with(&prefix) {
            self.answered(name, true);
            return self.sdk.get_dashboard(name).await;
        }
        let listing = self
            .shared
            .dashboards
            .get(
                self.shared.window,
                self.shared.stale_before(None),
                || async {
                    let listed = self.sdk.dashboards_with_prefix(&prefix).await?;
                    // A body the listing no longer shows is of a dashboard gone.
                    lock(&self.shared.dashboard_bodies).retain(|name, _| listed.contains_key(name));
                    Ok(listed)
                },
            )
            .await?;
        if self.shared.dashboard_writes.after(name, listing.at) {
            self.answered(name, true);
            return self.sdk.get_dashboard(name).await;
        }
        let Some(modified) = listing.value.get(name) else {
            lock(&self.shared.dashboard_bodies).remove(name);
            // Missing from a listing read for this answer, or from one kept.
            self.answered(name, listing.at >= began);
            return Ok(None);
        };
        let kept = lock(&self.shared.dashboard_bodies)
            .get(name)
            .filter(|(at, _)| Some(at) == modified.as_ref())
            .map(|(_, body)| body.clone());
        if kept.is_some() {
            self.answered(name, false);
            return Ok(kept);
        }
        self.answered(name, true);
        let read_at = Instant::now();
        let body = self.sdk.get_dashboard(name).await?;
        let mut bodies = lock(&self.shared.dashboard_bodies);
        match (&body, modified) {
            // Kept with the LastModified listed before the read: a change made since shows as
            // another LastModified in the next listing, and the body is read again.
            (Some(body), Some(modified)) if !self.shared.dashboard_writes.after(name, read_at) => {
                bodies.insert(name.to_owned(), (*modified, body.clone()));
            }
            _ => {
                bodies.remove(name);
            }
        }
        Ok(body)
    }

    async fn put_dashboard(&self, name: &str, body: &str) -> Result<(), AwsError> {
        let result = self.sdk.put_dashboard(name, body).await;
        self.dashboards_written(&[name.to_owned()]);
        result
    }

    async fn delete_dashboards(&self, names: &[String]) -> Result<(), AwsError> {
        let result = self.sdk.delete_dashboards(names).await;
        self.dashboards_written(names);
        result
    }

    /// Nothing is forgotten (false) when this client answered for these dashboards, and
    /// only from AWS now: reading them again would read the same.
    fn forget_dashboards(&self, names: &[String]) -> bool {
        let afresh = {
            let answers = lock(&self.dashboard_answers);
            names.iter().any(|name| answers.contains_key(name))
                && names.iter().all(|name| answers.get(name) != Some(&false))
        };
        if afresh {
            return false;
        }
        self.dashboards_written(names);
        true
    }

    /// Always asks AWS, tags included: its tags decide whether the guard owns the group. The
    /// ARN of a missing group takes the account kept for this identity.
    async fn log_group(&self, name: &str) -> Result<ObservedLogGroup, AwsError> {
        let read_at = Instant::now();
        let group = self
            .sdk
            .logs()
            .log_group(name, true, || self.account_id())
            .await?;
        if !self.shared.log_group_writes.after(name, read_at) {
            let mut kept = lock(&self.shared.log_group_tags);
            match group.found.as_ref().and_then(|found| found.tags.clone()) {
                Some(tags) => kept.insert(name.to_owned(), tags),
                None => kept.remove(name),
            };
        }
        Ok(group)
    }

    /// A group under the operator's prefix from the shared listing (a group this process
    /// wrote since the listing began is read on its own); another group on its own
    /// (DescribeLogGroups by its name). Tags only as kept from the last read with tags.
    async fn listed_log_group(&self, name: &str) -> Result<ObservedLogGroup, AwsError> {
        let logs = self.sdk.logs();
        let alone = || logs.log_group(name, false, || self.account_id());
        let group = match name.starts_with(LOG_GROUP_PREFIX) {
            false => alone().await?,
            true => {
                let listing = self
                    .shared
                    .log_groups
                    .get(
                        self.shared.window,
                        self.shared.stale_before(None),
                        || async {
                            let listed = logs.groups_with_prefix(LOG_GROUP_PREFIX).await?;
                            // Tags of a group the listing no longer shows are of a group gone.
                            lock(&self.shared.log_group_tags).retain(|name, _| {
                                !name.starts_with(LOG_GROUP_PREFIX) || listed.contains_key(name)
                            });
                            Ok(listed)
                        },
                    )
                    .await?;
                match self.shared.log_group_writes.after(name, listing.at) {
                    true => alone().await?,
                    false => {
                        let listed = listing.value.get(name).cloned();
                        observed(self.sdk.region(), name, listed, None, || self.account_id())
                            .await?
                    }
                }
            }
        };
        Ok(self.with_kept_tags(name, group))
    }

    fn forget_log_group(&self, name: &str) -> bool {
        self.shared
            .log_group_writes
            .record(name, self.shared.window);
        lock(&self.shared.log_group_tags).remove(name);
        true
    }

    async fn create_log_group(
        &self,
        name: &str,
        retention_days: i32,
        tags: &[Tag],
    ) -> Result<(), AwsError> {
        let result = self.sdk.create_log_group(name, retention_days, tags).await;
        self.forget_log_group(name);
        result
    }

    async fn put_retention(&self, name: &str, retention_days: i32) -> Result<(), AwsError> {
        let result = self.sdk.put_retention(name, retention_days).await;
        self.forget_log_group(name);
        result
    }

    async fn delete_log_group(&self, name: &str) -> Result<(), AwsError> {
        let result = self.sdk.delete_log_group(name).await;
        self.forget_log_group(name);
        result
    }

    fn forget(&self, names: &[String]) -> bool {
        for name in names {
            self.shared.alarm_writes.record(name, self.shared.window);
        }
        self.shared
            .tags
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|arn, _| {
                !arn.rsplit_once(":alarm:")
                    .is_some_and(|(_, name)| names.iter().any(|n| n == name))
            });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{GuardId, access_log_group_name};

    #[test]
    fn the_listings_cover_every_name_the_operator_gives() {
        let guard = GuardId {
            namespace: "team".to_owned(),
            name: "orders.v2".to_owned(),
        };
        for name in [guard.dashboard_name(), guard.legacy_dashboard_name()] {
            assert!(name.starts_with(&dashboard_listing_prefix()), "{name}");
        }
        for (api, stage) in [("a1b2c3", "prod"), ("h1", "$default")] {
            let name = access_log_group_name(api, stage);
            assert!(name.starts_with(LOG_GROUP_PREFIX), "{name}");
        }
    }
}
