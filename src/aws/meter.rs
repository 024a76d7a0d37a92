//! The one path of every AWS call: wait for the rate limit, classify the error, record the call.

use std::future::Future;

use aws_sdk_apigateway::config::http::HttpResponse;
use aws_sdk_apigateway::error::{ProvideErrorMetadata, SdkError};

use super::limits::SharedRateLimits;
use super::{AwsError, CallLog};

/// Rate limits and the call log of one service's client in one region.
#[derive(Clone, Debug)]
pub struct Meter {
    service: &'static str,
    region: String,
    limits: SharedRateLimits,
    calls: CallLog,
}

impl Meter {
    pub fn new(
        service: &'static str,
        region: String,
        limits: SharedRateLimits,
        calls: CallLog,
    ) -> Self {
        Self {
            service,
            region,
            limits,
            calls,
        }
    }

    /// Sends `request` (a not yet polled SDK call) once its quota allows, and records it.
    pub async fn call<T, E>(
        &self,
        operation: &'static str,
        write: bool,
        request: impl Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    ) -> Result<T, AwsError>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        self.limits.acquire(&self.region, operation).await;
        let result = request.await.map_err(|e| AwsError::from_sdk(operation, e));
        self.calls
            .record(self.service, operation, write, result.is_ok());
        result
    }
}
