//! Building the SDK clients for one region.

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;

use super::{CallLog, SdkApiGateway, SdkCloudWatch};

/// API Gateway and CloudWatch clients for `region` (the SDK's default chain when `None`),
/// sending to `endpoint_url` when given (a local AWS), sharing one call log.
pub async fn clients(
    region: Option<String>,
    endpoint_url: Option<String>,
    calls: &CallLog,
) -> (SdkApiGateway, SdkCloudWatch) {
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).retry_config(RetryConfig::standard());
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region));
    }
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let config = loader.load().await;
    (
        SdkApiGateway::new(aws_sdk_apigateway::Client::new(&config), calls.clone()),
        SdkCloudWatch::new(aws_sdk_cloudwatch::Client::new(&config), calls.clone()),
    )
}
