//! The read-only calls `apigw-guard diagnose` makes beyond the operator's own: execution logs
//! (CloudWatch Logs), Lambda functions and HTTP APIs' integrations. It never writes.

use std::collections::BTreeMap;

use aws_sdk_lambda::Client as LambdaClient;

use super::logs::SdkLogs;
use super::meter::Meter;
use super::{SdkApiGateway, SdkCloudWatch};
use crate::core::kind::Service;
use crate::core::model::{
    ApiKind, AwsError, COMPLETED, LambdaFunction, LogMatches, MethodIntegration,
};

/// How many of the newest matching messages a report shows.
const SAMPLES: usize = 3;

/// Everything diagnose reads, through the same [`Meter`] as the operator.
#[derive(Clone, Debug)]
pub struct SdkDiagnostics {
    pub apigateway: SdkApiGateway,
    pub cloudwatch: SdkCloudWatch,
    logs: SdkLogs,
    lambda: LambdaClient,
    lambda_meter: Meter,
}

impl SdkDiagnostics {
    pub(super) fn new(
        apigateway: SdkApiGateway,
        cloudwatch: SdkCloudWatch,
        (lambda, lambda_meter): (LambdaClient, Meter),
    ) -> Self {
        Self {
            apigateway,
            logs: cloudwatch.logs().clone(),
            cloudwatch,
            lambda,
            lambda_meter,
        }
    }

    /// Events in `group` since `since_ms` (epoch milliseconds) that contain `phrase`
    /// (FilterLogEvents, paged): how many, and the newest few.
    pub async fn log_matches(
        &self,
        group: &str,
        phrase: &str,
        since_ms: i64,
    ) -> Result<LogMatches, AwsError> {
        let mut matches = LogMatches::default();
        let mut newest: Vec<(i64, String)> = Vec::new();
        self.filter(group, &format!("\"{phrase}\""), since_ms, |at, message| {
            matches.count += 1;
            newest.push((at, message.trim_end().to_owned()));
        })
        .await?;
        newest.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
        matches.latest = newest
            .into_iter()
            .take(SAMPLES)
            .map(|(_, message)| message)
            .collect();
        Ok(matches)
    }

    /// How many requests ended with each 5XX status since `since_ms`, from the execution
    /// log's `Method completed with status: 5NN` lines.
    pub async fn completed_5xx(
        &self,
        group: &str,
        since_ms: i64,
    ) -> Result<BTreeMap<u16, usize>, AwsError> {
        let mut statuses = BTreeMap::new();
        let pattern = format!("\"{COMPLETED}5\"");
        self.filter(group, &pattern, since_ms, |_, message| {
            let status = message
                .split_once(COMPLETED)
                .and_then(|(_, rest)| rest.get(..3))
                .and_then(|code| code.parse::<u16>().ok());
            if let Some(status) = status {
                *statuses.entry(status).or_default() += 1;
            }
        })
        .await?;
        Ok(statuses)
    }

    /// Every event of `group` since `since_ms` that `pattern` (a CloudWatch Logs filter
    /// pattern: a quoted phrase, or a JSON condition such as `{ $.status = "5*" }`) matches,
    /// page by page.
    pub async fn filter(
        &self,
        group: &str,
        pattern: &str,
        since_ms: i64,
        mut each: impl FnMut(i64, &str),
    ) -> Result<(), AwsError> {
        let mut next_token = None;
        loop {
            let request = self
                .logs
                .client
                .filter_log_events()
                .log_group_name(group)
                .filter_pattern(pattern)
                .start_time(since_ms)
                .set_next_token(next_token.take())
                .send();
            let page = self
                .logs
                .meter
                .call("FilterLogEvents", false, request)
                .await?;
            for event in page.events() {
                each(
                    event.timestamp().unwrap_or_default(),
                    event.message().unwrap_or_default(),
                );
            }
            match page.next_token() {
                Some(token) if !page.events().is_empty() => next_token = Some(token.to_owned()),
                _ => return Ok(()),
            }
        }
    }

    /// Every method's integration of a REST API (GetResources with methods embedded), or
    /// every route's of a v2 API (GetRoutes and GetIntegrations, paged).
    pub async fn integrations(
        &self,
        kind: ApiKind,
        api_id: &str,
    ) -> Result<Vec<MethodIntegration>, AwsError> {
        match kind.profile().service {
            Service::V1 => self.apigateway.integrations(api_id).await,
            Service::V2 => self.apigateway.v2().integrations(api_id).await,
        }
    }

    /// A Lambda function's state and timeout (GetFunction).
    pub async fn function(&self, name: &str) -> Result<LambdaFunction, AwsError> {
        let request = self.lambda.get_function().function_name(name).send();
        let out = self
            .lambda_meter
            .call("GetFunction", false, request)
            .await?;
        let config = out.configuration();
        Ok(LambdaFunction {
            name: name.to_owned(),
            state: config
                .and_then(|c| c.state())
                .map(|s| s.as_str().to_owned()),
            state_reason: config.and_then(|c| c.state_reason()).map(str::to_owned),
            timeout_seconds: config.and_then(|c| c.timeout()),
        })
    }
}
