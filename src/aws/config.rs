//! Building the SDK configuration and per-region clients.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

use super::limits::{RateLimits, SharedRateLimits};
use super::meter::Meter;
use super::{
    CallLog, SdkApiGateway, SdkCloudWatch, SdkDiagnostics, SharedApiGateway, SharedCloudWatch,
    SharedReads,
};
use crate::model::StageKey;

/// How long guards share a listing by default: a minute, well inside the resync interval, so
/// one resync round reads each listing about once.
pub const SHARED_READ_WINDOW: Duration = Duration::from_secs(60);

/// The SDK configuration for `region` (the SDK's region chain when `None`), sending to
/// `endpoint_url` when given (a local AWS), with credentials from the SDK's default chain.
pub async fn load(region: Option<String>, endpoint_url: Option<String>) -> SdkConfig {
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).retry_config(RetryConfig::standard());
    if let Some(region) = region {
        loader = loader.region(Region::new(region));
    }
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// SDK clients per region, built once from one base configuration; guards name their region.
/// All of them share one set of rate limits.
#[derive(Debug)]
pub struct RegionalClients {
    base: SdkConfig,
    limits: SharedRateLimits,
    window: Duration,
    cache: Mutex<HashMap<Option<String>, Regional>>,
}

/// One region's clients and the reads its guards share.
#[derive(Clone)]
struct Regional {
    apigateway: aws_sdk_apigateway::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    sts: aws_sdk_sts::Client,
    shared: Arc<SharedReads>,
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
            cache: Mutex::default(),
        }
    }

    /// Guards share listings for `window` instead of [`SHARED_READ_WINDOW`].
    pub fn share_reads_for(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Whether a guard naming `region` (or none) has a region to go to.
    pub fn has_region(&self, region: Option<&str>) -> bool {
        region.is_some() || self.base.region().is_some()
    }

    /// Clients for `region` (the base region when `None`) that record into `calls` and share
    /// reads with every other guard of the region.
    pub fn clients(
        &self,
        region: Option<&str>,
        calls: &CallLog,
    ) -> (SharedApiGateway, SharedCloudWatch) {
        let (apigateway, cloudwatch, shared) = self.regional(region, calls);
        (
            SharedApiGateway::new(apigateway, shared.clone()),
            SharedCloudWatch::new(cloudwatch, shared),
        )
    }

    /// Clients that read AWS afresh for every guard: what [`Self::clients`] saves is measured
    /// against these.
    pub fn per_guard_clients(
        &self,
        region: Option<&str>,
        calls: &CallLog,
    ) -> (SdkApiGateway, SdkCloudWatch) {
        let (apigateway, cloudwatch, _) = self.regional(region, calls);
        (apigateway, cloudwatch)
    }

    /// The region a guard naming `region` (or none) goes to.
    pub fn region_name(&self, region: Option<&str>) -> String {
        region
            .map(str::to_owned)
            .or_else(|| self.base.region().map(|r| r.to_string()))
            .unwrap_or_default()
    }

    /// What `apigw-guard diagnose` reads with, for `region`; per-guard clients, since it looks
    /// at one stage.
    pub fn diagnostics(&self, region: Option<&str>, calls: &CallLog) -> SdkDiagnostics {
        let (apigateway, cloudwatch) = self.per_guard_clients(region, calls);
        let region_name = self.region_name(region);
        let region = Region::new(region_name.clone());
        let meter = |service| {
            Meter::new(
                service,
                region_name.clone(),
                self.limits.clone(),
                calls.clone(),
            )
        };
        let logs = aws_sdk_cloudwatchlogs::Client::from_conf(
            aws_sdk_cloudwatchlogs::config::Builder::from(&self.base)
                .region(region.clone())
                .build(),
        );
        let lambda = aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::config::Builder::from(&self.base)
                .region(region)
                .build(),
        );
        SdkDiagnostics::new(
            apigateway,
            cloudwatch,
            (logs, meter("logs")),
            (lambda, meter("lambda")),
        )
    }

    /// Counts `stages` of `region` (the base region when `None`) among those whose metrics are
    /// read together (see [`SharedReads::expect_metrics`]).
    pub fn expect_metrics(&self, region: Option<&str>, stages: impl IntoIterator<Item = StageKey>) {
        let (_, _, shared) = self.regional(region, &CallLog::default());
        shared.expect_metrics(stages);
    }

    /// Ends the shared-read window in every region now, as its passing would: the next reads
    /// ask AWS. What a resync round after a long interval sees, without waiting for it.
    pub fn expire_shared_reads(&self) {
        for regional in self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            regional.shared.expire();
        }
    }

    fn regional(
        &self,
        region: Option<&str>,
        calls: &CallLog,
    ) -> (SdkApiGateway, SdkCloudWatch, Arc<SharedReads>) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let regional = cache
            .entry(region.map(str::to_owned))
            .or_insert_with(|| {
                let region = region
                    .map(|r| Region::new(r.to_owned()))
                    .or_else(|| self.base.region().cloned());
                Regional {
                    apigateway: aws_sdk_apigateway::Client::from_conf(
                        aws_sdk_apigateway::config::Builder::from(&self.base)
                            .region(region.clone())
                            .build(),
                    ),
                    cloudwatch: aws_sdk_cloudwatch::Client::from_conf(
                        aws_sdk_cloudwatch::config::Builder::from(&self.base)
                            .region(region.clone())
                            .build(),
                    ),
                    sts: aws_sdk_sts::Client::from_conf(
                        aws_sdk_sts::config::Builder::from(&self.base)
                            .region(region)
                            .build(),
                    ),
                    shared: Arc::new(SharedReads::new(self.window)),
                }
            })
            .clone();
        let region = region
            .map(str::to_owned)
            .or_else(|| self.base.region().map(|r| r.to_string()))
            .unwrap_or_default();
        let meter =
            |service| Meter::new(service, region.clone(), self.limits.clone(), calls.clone());
        (
            SdkApiGateway::new(regional.apigateway, meter("apigateway")),
            SdkCloudWatch::new(
                regional.cloudwatch,
                meter("cloudwatch"),
                (regional.sts, meter("sts")),
            ),
            regional.shared,
        )
    }
}
