//! Reads shared by every guard of a region, so AWS cost grows with the number of APIs, not
//! guards times calls: REST APIs, HTTP APIs, usage plans, the account and the operator's
//! alarms are listed in pages once per window; stages are read per API (GetStages); alarm
//! tags are kept until the operator itself writes the alarm.
//!
//! A write marks what it changed, and a listing fetched before that write is not used for it
//! again: the next read of the object asks AWS directly. Before any write to an alarm the
//! reconcile asks for a fresh read of it ([`CloudWatch::forget`]), so a listing up to one
//! window old never decides who owns an alarm.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::apigateway::{ApiListing, find_listed, unique};
use super::{ApiGateway, CloudWatch, SdkApiGateway, SdkCloudWatch};

use crate::crd::ResourceRef;
use crate::model::{
    ALARM_PREFIX, AlarmConfig, ApiKind, AwsError, GuardedApi, ObservedAlarm, ObservedLogGroup,
    PatchOp, StageKey, StageMetrics, StageSettings, Tag, UsagePlan,
};

/// A stage no guard asked about for this long is no longer read (its guard went away).
const FORGET_STAGES_AFTER: Duration = Duration::from_secs(3600);

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
pub type KeptAccountId = Arc<Mutex<Option<String>>>;

/// What the guards of one AWS account and region share, whichever identity reaches it.
pub struct SharedReads {
    window: Duration,
    /// Listings read before this are not used again.
    expired: Mutex<Option<Instant>>,
    rest_apis: Slot<ApiListing>,
    http_apis: Slot<ApiListing>,
    /// Stages by [`api_key`].
    stages: Mutex<HashMap<String, Arc<StagesSlot>>>,
    usage_plans: Slot<Vec<(String, UsagePlan)>>,
    account: Slot<Option<String>>,
    alarms: Slot<HashMap<String, ObservedAlarm>>,
    /// Tags by alarm ARN.
    tags: Mutex<HashMap<String, Vec<Tag>>>,
    /// Every guarded stage's metrics, read together.
    metrics: Slot<HashMap<StageKey, StageMetrics>>,
    /// The stages whose metrics guards asked for, and when they last did.
    metric_stages: Mutex<HashMap<StageKey, Instant>>,
    /// Stages read on their own since the last shared read began, with when.
    metrics_alone: Mutex<HashMap<StageKey, (Instant, StageMetrics)>>,
    stage_writes: Writes,
    plan_writes: Writes,
    alarm_writes: Writes,
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
            rest_apis: Slot::default(),
            http_apis: Slot::default(),
            stages: Mutex::default(),
            usage_plans: Slot::default(),
            account: Slot::default(),
            alarms: Slot::default(),
            tags: Mutex::default(),
            metrics: Slot::default(),
            metric_stages: Mutex::default(),
            metrics_alone: Mutex::default(),
            stage_writes: Writes::default(),
            plan_writes: Writes::default(),
            alarm_writes: Writes::default(),
        }
    }

    /// Counts `stages` among those whose metrics are read together, before any guard asks:
    /// a caller that knows its guards up front (the CLI, a file) pays one GetMetricData per
    /// 100 stages from the first read on.
    pub fn expect_metrics(&self, stages: impl IntoIterator<Item = StageKey>) {
        let now = Instant::now();
        self.metric_stages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(stages.into_iter().map(|stage| (stage, now)));
    }

    /// Counts the stages `other` counted too (see [`Self::expect_metrics`]).
    pub fn expect_metrics_of(&self, other: &SharedReads) {
        let theirs = other
            .metric_stages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut ours = self.metric_stages.lock().unwrap_or_else(|p| p.into_inner());
        for (stage, at) in theirs {
            let kept = ours.entry(stage).or_insert(at);
            *kept = (*kept).max(at);
        }
    }

    /// Whether `stage` is among those whose metrics are read together.
    #[cfg(test)]
    pub fn expects(&self, stage: &StageKey) -> bool {
        self.metric_stages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(stage)
    }

    /// Ends the window now: the next read of every listing asks AWS. Kept tags stay.
    pub fn expire(&self) {
        *self.expired.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// The later of the last expiry and `written`: a listing read before it is stale.
    fn stale_before(&self, written: Option<Instant>) -> Option<Instant> {
        let expired = *self.expired.lock().unwrap_or_else(|p| p.into_inner());
        expired.max(written)
    }

    fn listing_slot(&self, kind: ApiKind) -> &Slot<ApiListing> {
        match kind {
            ApiKind::Rest => &self.rest_apis,
            ApiKind::Http => &self.http_apis,
        }
    }

    fn stage_slot(&self, key: &str) -> Arc<StagesSlot> {
        self.stages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.to_owned())
            .or_default()
            .clone()
    }
}

/// The alarm-name prefix the shared listing covers: every alarm the operator names.
fn alarm_listing_prefix() -> String {
    format!("{ALARM_PREFIX}-")
}

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
        self.shared
            .stage_slot(&key)
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
    async fn find_api(&self, kind: ApiKind, by: &ResourceRef) -> Result<GuardedApi, AwsError> {
        let found = find_listed(kind, &self.listing(kind, false).await?.value, by);
        if !not_listed(&found) {
            return found;
        }
        find_listed(kind, &self.listing(kind, true).await?.value, by)
    }

    async fn get_api(&self, kind: ApiKind, id: &str) -> Result<GuardedApi, AwsError> {
        self.sdk.get_api(kind, id).await
    }

    /// The listing the guards of the region share.
    async fn list_apis(&self, kind: ApiKind) -> Result<Vec<GuardedApi>, AwsError> {
        Ok(self.listing(kind, false).await?.value.apis.clone())
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

    async fn disable_access_logs(
        &self,
        kind: ApiKind,
        api_id: &str,
        stage: &str,
    ) -> Result<(), AwsError> {
        let result = self.sdk.disable_access_logs(kind, api_id, stage).await;
        self.shared
            .stage_writes
            .record(&api_key(kind, api_id), self.shared.window);
        result
    }

    async fn find_usage_plan(&self, by: &ResourceRef) -> Result<UsagePlan, AwsError> {
        let plans = self.usage_plans(false).await?;
        let mut found = find_plan(&plans.value, by);
        if not_listed(&found) {
            found = find_plan(&self.usage_plans(true).await?.value, by);
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
}

impl SharedCloudWatch {
    pub fn new(sdk: SdkCloudWatch, shared: Arc<SharedReads>, account_id: KeptAccountId) -> Self {
        Self {
            sdk,
            shared,
            account_id,
        }
    }
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
        let stages: Vec<StageKey> = {
            let mut asked = self
                .shared
                .metric_stages
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            asked.retain(|_, at| at.elapsed() < FORGET_STAGES_AFTER);
            asked.insert(key.clone(), Instant::now());
            asked.keys().cloned().collect()
        };
        let snapshot = self
            .shared
            .metrics
            .get(self.shared.window, self.shared.stale_before(None), || {
                self.sdk.metrics_of(&stages)
            })
            .await?;
        if let Some(metrics) = snapshot.value.get(key) {
            return Ok(metrics.clone());
        }
        let fresh_after = self.shared.stale_before(None).max(Some(snapshot.at));
        let kept = self
            .shared
            .metrics_alone
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.shared.window && Some(*at) > fresh_after)
            .map(|(_, metrics)| metrics.clone());
        if let Some(metrics) = kept {
            return Ok(metrics);
        }
        let at = Instant::now();
        let metrics = self.sdk.stage_metrics(key).await?;
        let mut alone = self
            .shared
            .metrics_alone
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        alone.retain(|_, (at, _)| at.elapsed() < self.shared.window);
        alone.insert(key.clone(), (at, metrics.clone()));
        Ok(metrics)
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

    /// Read once per identity and region: credentials do not change account.
    async fn account_id(&self) -> Result<String, AwsError> {
        let kept = self
            .account_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(id) = kept {
            return Ok(id);
        }
        let id = self.sdk.account_id().await?;
        *self.account_id.lock().unwrap_or_else(|p| p.into_inner()) = Some(id.clone());
        Ok(id)
    }

    /// Not shared: a dashboard is one guard's, and its body is what drift is judged on.
    async fn get_dashboard(&self, name: &str) -> Result<Option<String>, AwsError> {
        self.sdk.get_dashboard(name).await
    }

    async fn put_dashboard(&self, name: &str, body: &str) -> Result<(), AwsError> {
        self.sdk.put_dashboard(name, body).await
    }

    async fn delete_dashboards(&self, names: &[String]) -> Result<(), AwsError> {
        self.sdk.delete_dashboards(names).await
    }

    /// Not shared: its tags decide whether the guard owns the group. The ARN of a missing
    /// group takes the account kept for this identity.
    async fn log_group(&self, name: &str) -> Result<ObservedLogGroup, AwsError> {
        self.sdk.logs().log_group(name, || self.account_id()).await
    }

    async fn create_log_group(
        &self,
        name: &str,
        retention_days: i32,
        tags: &[Tag],
    ) -> Result<(), AwsError> {
        self.sdk.create_log_group(name, retention_days, tags).await
    }

    async fn put_retention(&self, name: &str, retention_days: i32) -> Result<(), AwsError> {
        self.sdk.put_retention(name, retention_days).await
    }

    async fn delete_log_group(&self, name: &str) -> Result<(), AwsError> {
        self.sdk.delete_log_group(name).await
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
