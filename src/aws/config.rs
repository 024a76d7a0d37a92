//! Building the SDK configuration and per-region clients.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::config::SharedCredentialsProvider;

use super::limits::{
    Limit, Quota, RateLimits, SharedRateLimits, parse_override as parse_rate_limit,
};
use super::logs::SdkLogs;
use super::meter::Meter;
use super::{
    CallLog, SdkApiGateway, SdkCloudWatch, SdkDiagnostics, SharedApiGateway, SharedCloudWatch,
    SharedReads, shared::KeptAccountId,
};
use crate::core::model::{Identity, StageKey};

/// How long guards share a listing by default: a minute, well inside the resync interval, so
/// one resync round reads each listing about once.
pub const SHARED_READ_WINDOW: Duration = Duration::from_secs(60);

/// Every AWS call has a deadline: an endpoint that accepts connections and never answers
/// must not hold a reconcile (or the operator's shutdown) for ever. 5 s to connect, then
/// `attempt` seconds an attempt and `total` with its retries.
fn deadlines(attempt: u64, total: u64) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(Duration::from_secs(attempt))
        .operation_timeout(Duration::from_secs(total))
        .build()
}

/// The SDK configuration for `region` (the SDK's region chain when `None`), sending to
/// `endpoint_url` when given (a local AWS), with credentials from the SDK's default chain.
pub async fn load(region: Option<String>, endpoint_url: Option<String>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard())
        // AWS answers these calls in well under a second.
        .timeout_config(deadlines(15, 45));
    if let Some(region) = region {
        loader = loader.region(Region::new(region));
    }
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// The session name of every role the operator assumes: CloudTrail records it with each call
/// made through the role, so the operator's own writes can be told from anyone else's.
pub const SESSION_NAME: &str = "apigw-guard";
/// The account key of the operator's own identity while STS cannot say which it is: what its
/// quotas and reads are kept under until then, and the account the controller knows it by.
pub const OWN_ACCOUNT_UNKNOWN: &str = "own";

/// SDK clients per identity and region, built once from one base configuration; guards name
/// their account and region. Rate limits and shared reads are kept per account and region,
/// as AWS's quotas are: one account's throttling never slows another, and one account's
/// listing never answers for another.
#[derive(Debug)]
pub struct RegionalClients {
    base: SdkConfig,
    limits: SharedRateLimits,
    window: Duration,
    /// How long an assumed role's credentials last; `None` leaves it to STS (1 h).
    session_length: Option<Duration>,
    cache: Mutex<HashMap<(Identity, Option<String>), Regional>>,
    /// The reads shared by AWS account and region: two identities that reach one account
    /// read its listings once.
    shared: Mutex<HashMap<(String, String), Arc<SharedReads>>>,
    /// The account of the operator's own identity, once STS said which.
    own_account: std::sync::OnceLock<String>,
    /// The account each identity acts in, once STS said, for its clients in every region.
    accounts: Mutex<HashMap<Identity, KeptAccountId>>,
}

/// One identity's clients in one region, and the account they act in once known.
#[derive(Clone)]
struct Regional {
    apigateway: aws_sdk_apigateway::Client,
    apigatewayv2: aws_sdk_apigatewayv2::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    sts: aws_sdk_sts::Client,
    account_id: KeptAccountId,
}

impl std::fmt::Debug for Regional {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Regional").finish_non_exhaustive()
    }
}

impl RegionalClients {
    /// Clients limited to AWS's documented quotas.
    pub fn new(base: SdkConfig) -> Self {
        Self::with_limits(base, Arc::new(RateLimits::new([])))
    }

    pub fn with_limits(base: SdkConfig, limits: SharedRateLimits) -> Self {
        Self {
            base,
            limits,
            window: SHARED_READ_WINDOW,
            session_length: None,
            cache: Mutex::default(),
            shared: Mutex::default(),
            own_account: std::sync::OnceLock::new(),
            accounts: Mutex::default(),
        }
    }

    /// Assumed roles' credentials last `length` (AWS allows 15 min up to the role's maximum);
    /// the SDK refreshes them before they expire.
    pub fn session_length(mut self, length: Duration) -> Self {
        self.session_length = Some(length);
        self
    }

    /// Guards share listings for `window` instead of [`SHARED_READ_WINDOW`].
    pub fn share_reads_for(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// The operator's own identity acts in `account` (as STS said): from now on its calls
    /// count against that account's quotas, shared with the roles in the same account.
    /// The reads the own identity shared before are moved under that account, not left
    /// behind: the stages counted for the first batched metric read stay counted.
    pub fn learn_own_account(&self, account: &str) {
        // Under the lock that `shared_reads` keys under, so no read is keyed "own" after this.
        let mut shared = self.lock_shared();
        if self.own_account.set(account.to_owned()).is_err() {
            return;
        }
        let before: Vec<_> = shared
            .keys()
            .filter(|(key, _)| key == OWN_ACCOUNT_UNKNOWN)
            .cloned()
            .collect();
        for key in before {
            let Some(reads) = shared.remove(&key) else {
                continue;
            };
            match shared.entry((account.to_owned(), key.1)) {
                Entry::Vacant(entry) => {
                    entry.insert(reads);
                }
                // A role in the same account read it first: its reads stay, the count joins.
                Entry::Occupied(entry) => entry.get().expect_metrics_of(&reads),
            }
        }
    }

    /// What AWS's per-account quotas are kept under: the account in the role ARN, or the
    /// operator's own account (while not known, one of its own).
    fn quota_account<'a>(&'a self, identity: &'a Identity) -> &'a str {
        identity.arn_account().unwrap_or_else(|| {
            self.own_account
                .get()
                .map_or(OWN_ACCOUNT_UNKNOWN, String::as_str)
        })
    }

    /// Whether a guard naming `region` (or none) has a region to go to.
    pub fn has_region(&self, region: Option<&str>) -> bool {
        region.is_some() || self.base.region().is_some()
    }

    /// Clients acting as `identity` in `region` (the base region when `None`) that record
    /// into `calls` and share reads with every other guard of that account and region.
    pub async fn clients(
        &self,
        identity: &Identity,
        region: Option<&str>,
        calls: &CallLog,
    ) -> (SharedApiGateway, SharedCloudWatch) {
        let (apigateway, cloudwatch, account_id) = self.regional(identity, region, calls).await;
        let shared = self.shared_reads(identity, region);
        (
            SharedApiGateway::new(apigateway, shared.clone()),
            SharedCloudWatch::new(cloudwatch, shared, account_id),
        )
    }

    /// Clients that read AWS afresh for every guard: what [`Self::clients`] saves is measured
    /// against these.
    pub async fn per_guard_clients(
        &self,
        identity: &Identity,
        region: Option<&str>,
        calls: &CallLog,
    ) -> (SdkApiGateway, SdkCloudWatch) {
        let (apigateway, cloudwatch, _) = self.regional(identity, region, calls).await;
        (apigateway, cloudwatch)
    }

    /// The region a guard naming `region` (or none) goes to.
    pub fn region_name(&self, region: Option<&str>) -> String {
        region
            .map(str::to_owned)
            .or_else(|| self.base.region().map(|r| r.to_string()))
            .unwrap_or_default()
    }

    /// What `apigw-guard diagnose` reads with, as `identity` in `region`; per-guard clients,
    /// since it looks at one stage.
    pub async fn diagnostics(
        &self,
        identity: &Identity,
        region: Option<&str>,
        calls: &CallLog,
    ) -> SdkDiagnostics {
        let (apigateway, cloudwatch) = self.per_guard_clients(identity, region, calls).await;
        let config = self.config(identity, region).await;
        let region_name = self.region_name(region);
        let region = Region::new(region_name.clone());
        let meter = |service| {
            Meter::new(
                service,
                &region_name,
                self.quota_account(identity),
                self.limits.clone(),
                calls.clone(),
            )
        };
        let lambda = aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::config::Builder::from(&config)
                .region(region)
                .build(),
        );
        SdkDiagnostics::new(apigateway, cloudwatch, (lambda, meter("lambda")))
    }

    /// Counts `stages` of `identity`'s account in `region` (the base region when `None`)
    /// among those whose metrics are read together (see [`SharedReads::expect_metrics`]).
    pub async fn expect_metrics(
        &self,
        identity: &Identity,
        region: Option<&str>,
        stages: impl IntoIterator<Item = StageKey>,
    ) {
        self.shared_reads(identity, region).expect_metrics(stages);
    }

    /// Ends the shared-read window in every region now, as its passing would: the next reads
    /// ask AWS. What a resync round after a long interval sees, without waiting for it.
    pub fn expire_shared_reads(&self) {
        for shared in self.lock_shared().values() {
            shared.expire();
        }
    }

    /// The SDK configuration acting as `identity`: the base one, or the base one with an
    /// AssumeRole credentials provider, whose credentials the SDK's identity cache keeps and
    /// refreshes before they expire. STS is asked in the guard's region.
    async fn config(&self, identity: &Identity, region: Option<&str>) -> SdkConfig {
        let Identity::Role { arn, external_id } = identity else {
            return self.base.clone();
        };
        let mut role = AssumeRoleProvider::builder(arn)
            .session_name(SESSION_NAME)
            .configure(&self.base);
        if let Some(id) = external_id {
            role = role.external_id(id);
        }
        if let Some(length) = self.session_length {
            role = role.session_length(length);
        }
        if let Some(region) = region {
            role = role.region(Region::new(region.to_owned()));
        }
        self.base
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(role.build().await))
            .build()
    }

    /// An SQS client as the operator itself for the events queue at `url`, in the queue's
    /// region (`https://sqs.REGION.amazonaws.com/...`), else the base region.
    pub fn sqs(&self, url: &str) -> aws_sdk_sqs::Client {
        let region = url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|host| host.strip_prefix("sqs."))
            .and_then(|host| host.split('.').next())
            .map(|region| Region::new(region.to_owned()))
            .or_else(|| self.base.region().cloned());
        aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&self.base)
                .region(region)
                // SQS holds a ReceiveMessage up to 20 s by design.
                .timeout_config(deadlines(30, 90))
                .build(),
        )
    }

    /// Ends the shared-read window in `region` (of every account) now: an event said
    /// something there changed, and the reconciles it asks for must see it.
    pub fn expire_region(&self, region: &str) {
        for ((_, key_region), shared) in self.lock_shared().iter() {
            if key_region == region {
                shared.changed();
            }
        }
    }

    /// The reads shared in the account `identity` acts in (as far as is known without
    /// asking AWS: a role's from its ARN) and `region` (the base region when `None`).
    fn shared_reads(&self, identity: &Identity, region: Option<&str>) -> Arc<SharedReads> {
        let mut shared = self.lock_shared();
        let key = (
            self.quota_account(identity).to_owned(),
            self.region_name(region),
        );
        shared
            .entry(key)
            .or_insert_with(|| Arc::new(SharedReads::new(self.window)))
            .clone()
    }

    fn lock_shared(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(String, String), Arc<SharedReads>>> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn regional(
        &self,
        identity: &Identity,
        region: Option<&str>,
        calls: &CallLog,
    ) -> (SdkApiGateway, SdkCloudWatch, KeptAccountId) {
        let key = (identity.clone(), region.map(str::to_owned));
        let kept = self.lock().get(&key).cloned();
        let regional = match kept {
            Some(regional) => regional,
            None => {
                let config = self.config(identity, region).await;
                let region = region
                    .map(|r| Region::new(r.to_owned()))
                    .or_else(|| self.base.region().cloned());
                let built = Regional {
                    apigateway: aws_sdk_apigateway::Client::from_conf(
                        aws_sdk_apigateway::config::Builder::from(&config)
                            .region(region.clone())
                            .build(),
                    ),
                    apigatewayv2: aws_sdk_apigatewayv2::Client::from_conf(
                        aws_sdk_apigatewayv2::config::Builder::from(&config)
                            .region(region.clone())
                            .build(),
                    ),
                    cloudwatch: aws_sdk_cloudwatch::Client::from_conf(
                        aws_sdk_cloudwatch::config::Builder::from(&config)
                            .region(region.clone())
                            .build(),
                    ),
                    logs: aws_sdk_cloudwatchlogs::Client::from_conf(
                        aws_sdk_cloudwatchlogs::config::Builder::from(&config)
                            .region(region.clone())
                            .build(),
                    ),
                    sts: aws_sdk_sts::Client::from_conf(
                        aws_sdk_sts::config::Builder::from(&config)
                            .region(region)
                            .build(),
                    ),
                    account_id: self
                        .accounts
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .entry(identity.clone())
                        .or_default()
                        .clone(),
                };
                // Two guards may have built at once: the first kept is the one all share.
                self.lock().entry(key).or_insert(built).clone()
            }
        };
        let region = self.region_name(region);
        let meter = |service| {
            Meter::new(
                service,
                &region,
                self.quota_account(identity),
                self.limits.clone(),
                calls.clone(),
            )
        };
        (
            SdkApiGateway::new(
                regional.apigateway,
                meter("apigateway"),
                (regional.apigatewayv2, meter("apigatewayv2")),
            ),
            SdkCloudWatch::new(
                regional.cloudwatch,
                meter("cloudwatch"),
                (regional.sts, meter("sts")),
                SdkLogs::new(regional.logs, meter("logs")),
            ),
            regional.account_id,
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Identity, Option<String>), Regional>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The AWS options every command takes: where AWS is, the default region, and the
/// client-side quotas.
#[derive(Debug, clap::Args)]
pub struct AwsArgs {
    /// Send AWS calls to this endpoint instead of AWS's own (e.g. a local AWS emulator).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    endpoint_url: Option<String>,
    /// AWS region for guards whose spec names none; defaults to the SDK's region chain.
    #[arg(long, env = "AWS_REGION")]
    region: Option<String>,
    /// Override a client-side rate limit, NAME=RATE[/BURST] in requests per second; repeatable.
    /// Defaults are AWS's quotas: apigateway=10/40, apigateway-update-usage-plan=0.05/1,
    /// cloudwatch-put-metric-alarm=3/3, cloudwatch-delete-alarms=3/3,
    /// cloudwatch-describe-alarms=9/9, cloudwatch-tags=10/10, cloudwatch-dashboards=10/10,
    /// logs-log-groups=5/5.
    #[arg(long = "rate-limit", value_name = "NAME=RATE[/BURST]", value_parser = parse_rate_limit)]
    rate_limits: Vec<(Quota, Limit)>,
}

impl AwsArgs {
    /// Clients for every region, sharing one set of rate limits.
    pub async fn clients(&self) -> RegionalClients {
        let config = load(self.region.clone(), self.endpoint_url.clone()).await;
        RegionalClients::with_limits(config, Arc::new(RateLimits::new(self.rate_limits.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Clients based in eu-west-1, and a role in account 111122223333.
    fn eu_west_1_and_a_role() -> (RegionalClients, Identity) {
        let base = aws_config::SdkConfig::builder()
            .region(Region::new("eu-west-1"))
            .behavior_version(BehaviorVersion::latest())
            .build();
        let role = Identity::Role {
            arn: "arn:aws:iam::111122223333:role/apigw-guard".to_owned(),
            external_id: None,
        };
        (RegionalClients::new(base), role)
    }

    #[test]
    fn the_own_identity_shares_the_quotas_of_its_account_once_sts_said_which() {
        let (clients, role) = eu_west_1_and_a_role();
        assert_eq!(clients.quota_account(&role), "111122223333");
        assert_eq!(clients.quota_account(&Identity::Own), "own");
        clients.learn_own_account("111122223333");
        assert_eq!(clients.quota_account(&Identity::Own), "111122223333");
    }

    #[test]
    fn what_the_own_identity_shared_before_sts_said_its_account_stays_shared() {
        let (clients, role) = eu_west_1_and_a_role();
        let stage = |api: &str| StageKey {
            kind: crate::core::model::ApiKind::Rest,
            api: api.to_owned(),
            stage: "prod".to_owned(),
        };
        // A restarted operator counts its guards' stages before it knows its own account.
        let before = clients.shared_reads(&Identity::Own, None);
        before.expect_metrics([stage("orders")]);
        let other_region = clients.shared_reads(&Identity::Own, Some("us-east-1"));
        other_region.expect_metrics([stage("users")]);
        let roles = clients.shared_reads(&role, Some("us-east-1"));
        clients.learn_own_account("111122223333");
        // The same reads, with the same count, under the account STS named.
        let after = clients.shared_reads(&Identity::Own, None);
        assert!(Arc::ptr_eq(&before, &after));
        assert!(after.expects(&stage("orders")));
        // Where a role of that account read first, its reads stay and the count joins them.
        let joined = clients.shared_reads(&Identity::Own, Some("us-east-1"));
        assert!(Arc::ptr_eq(&joined, &roles));
        assert!(joined.expects(&stage("users")));
        assert_eq!(clients.lock_shared().len(), 2);
    }

    #[tokio::test]
    async fn a_queue_is_read_in_its_own_region() {
        let (clients, _) = eu_west_1_and_a_role();
        let region = |url: &str| clients.sqs(url).config().region().map(|r| r.to_string());
        assert_eq!(
            region("https://sqs.us-east-2.amazonaws.com/123456789012/apigw-guard-events"),
            Some("us-east-2".to_owned())
        );
        assert_eq!(
            region("http://127.0.0.1:4566/000000000000/apigw-guard-events"),
            Some("eu-west-1".to_owned()),
            "a local endpoint names no region: the operator's"
        );
    }
}
