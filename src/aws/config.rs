//! Building the SDK configuration and clients for one region.

use aws_config::BehaviorVersion;
use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;

use super::{CallLog, SdkApiGateway, SdkCloudWatch};

/// The SDK configuration for `region` (the SDK's region chain when `None`), sending to
/// `endpoint_url` when given (a local AWS), with credentials from the SDK's default chain.
pub async fn load(region: Option<String>, endpoint_url: Option<String>) -> SdkConfig {
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).retry_config(RetryConfig::standard());
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region));
    }
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// API Gateway and CloudWatch clients sharing one call log.
pub fn clients(config: &SdkConfig, calls: &CallLog) -> (SdkApiGateway, SdkCloudWatch) {
    (
        SdkApiGateway::new(aws_sdk_apigateway::Client::new(config), calls.clone()),
        SdkCloudWatch::new(aws_sdk_cloudwatch::Client::new(config), calls.clone()),
    )
}
