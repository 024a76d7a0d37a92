//! The one path of every AWS call: wait for the rate limit, classify the error, record the call.

use std::future::Future;
use std::time::Duration;

use aws_sdk_apigateway::config::http::HttpResponse;
use aws_sdk_apigateway::error::{ProvideErrorMetadata, SdkError};

use super::CallLog;
use super::limits::SharedRateLimits;
use crate::core::model::AwsError;

/// Rate limits and the call log of one service's client in one region.
#[derive(Clone, Debug)]
pub struct Meter {
    service: &'static str,
    region: String,
    /// What the quotas are kept under: account and region, as AWS keeps them.
    scope: String,
    limits: SharedRateLimits,
    calls: CallLog,
    /// Set by [`Meter::in_turn`].
    turn: Option<String>,
    /// Set by [`Meter::first_in_line`].
    first: bool,
}

/// How long a call waits for its turn in a slow quota before it hands the turn back to its
/// caller to come back for.
const PATIENCE: Duration = Duration::from_secs(1);

impl Meter {
    /// A meter for `service` in `region` of `account` (what its quotas are kept under).
    pub fn new(
        service: &'static str,
        region: &str,
        account: &str,
        limits: SharedRateLimits,
        calls: CallLog,
    ) -> Self {
        Self {
            service,
            region: region.to_owned(),
            scope: format!("{account}/{region}"),
            limits,
            calls,
            turn: None,
            first: false,
        }
    }

    /// The region its calls go to.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// This meter for a call that changes `key` under a slow quota: it never holds its caller
    /// for long. A turn more than a second away comes back as a retryable `QuotaQueued`
    /// error, and the turn stays booked for `key`.
    pub fn in_turn(&self, key: &str) -> Meter {
        Meter {
            turn: Some(key.to_owned()),
            ..self.clone()
        }
    }

    /// This meter for a call that goes ahead of every call waiting for its quota (see
    /// [`super::limits::RateLimits::acquire_first`]).
    pub fn first_in_line(&self) -> Meter {
        Meter {
            first: true,
            ..self.clone()
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
        let waited = match &self.turn {
            None if self.first => {
                self.limits.acquire_first(&self.scope, operation);
                Duration::ZERO
            }
            None => self.limits.acquire(&self.scope, operation).await,
            Some(key) => self
                .limits
                .acquire_in_turn(&self.scope, operation, key, PATIENCE)
                .await
                .map_err(|booked| AwsError::queued(operation, &booked))?,
        };
        let result = request.await.map_err(|e| AwsError::from_sdk(operation, e));
        self.calls
            .record(self.service, operation, write, result.is_ok(), waited);
        result
    }
}
