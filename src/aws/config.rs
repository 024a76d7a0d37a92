//! Building the SDK configuration and per-region clients.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

use super::limits::{RateLimits, SharedRateLimits};
use super::meter::Meter;
use super::{CallLog, SdkApiGateway, SdkCloudWatch};

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
    cache: Mutex<HashMap<Option<String>, (aws_sdk_apigateway::Client, aws_sdk_cloudwatch::Client)>>,
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
            cache: Mutex::default(),
        }
    }

    /// Whether a guard naming `region` (or none) has a region to go to.
    pub fn has_region(&self, region: Option<&str>) -> bool {
        region.is_some() || self.base.region().is_some()
    }

    /// Clients for `region` (the base region when `None`) that record into `calls`.
    pub fn clients(&self, region: Option<&str>, calls: &CallLog) -> (SdkApiGateway, SdkCloudWatch) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let (apigateway, cloudwatch) = cache
            .entry(region.map(str::to_owned))
            .or_insert_with(|| {
                let region = region.map(|r| Region::new(r.to_owned()));
                (
                    aws_sdk_apigateway::Client::from_conf(
                        aws_sdk_apigateway::config::Builder::from(&self.base)
                            .region(region.clone().or_else(|| self.base.region().cloned()))
                            .build(),
                    ),
                    aws_sdk_cloudwatch::Client::from_conf(
                        aws_sdk_cloudwatch::config::Builder::from(&self.base)
                            .region(region.or_else(|| self.base.region().cloned()))
                            .build(),
                    ),
                )
            })
            .clone();
        let region = region
            .map(str::to_owned)
            .or_else(|| self.base.region().map(|r| r.to_string()))
            .unwrap_or_default();
        let meter =
            |service| Meter::new(service, region.clone(), self.limits.clone(), calls.clone());
        (
            SdkApiGateway::new(apigateway, meter("apigateway")),
            SdkCloudWatch::new(cloudwatch, meter("cloudwatch")),
        )
    }
}
