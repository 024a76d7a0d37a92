//! The aws-sdk-cloudwatch implementation of [`CloudWatch`].

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, MetricAlarm, Statistic, Tag as SdkTag,
};

use super::limits::SharedRateLimits;
use super::{AlarmConfig, AwsError, CallLog, CloudWatch, ObservedAlarm, Tag};

/// DescribeAlarms and DeleteAlarms take at most 100 names a call.
const NAMES_PER_CALL: usize = 100;

/// CloudWatch through the AWS SDK, recording each call.
#[derive(Clone, Debug)]
pub struct SdkCloudWatch {
    client: Client,
    calls: CallLog,
    limits: SharedRateLimits,
    region: String,
}

impl SdkCloudWatch {
    /// A client for `region` whose calls wait for `limits` and are recorded in `calls`.
    pub fn new(client: Client, calls: CallLog, limits: SharedRateLimits, region: String) -> Self {
        Self {
            client,
            calls,
            limits,
            region,
        }
    }

    fn record<T>(&self, operation: &'static str, write: bool, result: &Result<T, AwsError>) {
        self.calls
            .record("cloudwatch", operation, write, result.is_ok());
    }
}

/// The managed part of an alarm, or `None` when AWS left out a field the guard sets.
fn config_of(alarm: &MetricAlarm) -> Option<AlarmConfig> {
    let statistic = match (alarm.statistic(), alarm.extended_statistic()) {
        (Some(statistic), _) => statistic.as_str().to_owned(),
        (None, Some(extended)) => extended.to_owned(),
        (None, None) => return None,
    };
    let mut dimensions: Vec<(String, String)> = alarm
        .dimensions()
        .iter()
        .map(|d| {
            (
                d.name().unwrap_or_default().to_owned(),
                d.value().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    dimensions.sort();
    Some(AlarmConfig {
        name: alarm.alarm_name()?.to_owned(),
        description: alarm.alarm_description().unwrap_or_default().to_owned(),
        namespace: alarm.namespace()?.to_owned(),
        metric_name: alarm.metric_name()?.to_owned(),
        statistic,
        dimensions,
        period: alarm.period()?,
        evaluation_periods: alarm.evaluation_periods()?,
        threshold: alarm.threshold()?,
        comparison: alarm.comparison_operator()?.as_str().to_owned(),
        // AWS's default when the field is absent.
        actions_enabled: alarm.actions_enabled().unwrap_or(true),
        actions: alarm.alarm_actions().to_vec(),
        ok_actions: alarm.ok_actions().to_vec(),
        treat_missing_data: alarm.treat_missing_data().unwrap_or("missing").to_owned(),
    })
}

fn sdk_tags(tags: &[Tag]) -> Vec<SdkTag> {
    tags.iter()
        .map(|(key, value)| SdkTag::builder().key(key).value(value).build())
        .collect()
}

impl CloudWatch for SdkCloudWatch {
    async fn describe_alarms(&self, names: &[String]) -> Result<Vec<ObservedAlarm>, AwsError> {
        let mut alarms = Vec::new();
        for chunk in names.chunks(NAMES_PER_CALL) {
            let mut next_token = None;
            loop {
                self.limits.acquire(&self.region, "DescribeAlarms").await;
                let result = self
                    .client
                    .describe_alarms()
                    .set_alarm_names(Some(chunk.to_vec()))
                    .set_next_token(next_token.take())
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("DescribeAlarms", e));
                self.record("DescribeAlarms", false, &result);
                let page = result?;
                alarms.extend(page.metric_alarms().iter().filter_map(|alarm| {
                    Some(ObservedAlarm {
                        name: alarm.alarm_name()?.to_owned(),
                        arn: alarm.alarm_arn()?.to_owned(),
                        config: config_of(alarm),
                        state: alarm
                            .state_value()
                            .map(|s| s.as_str().to_owned())
                            .unwrap_or_else(|| "INSUFFICIENT_DATA".to_owned()),
                    })
                }));
                match page.next_token() {
                    Some(token) => next_token = Some(token.to_owned()),
                    None => break,
                }
            }
        }
        Ok(alarms)
    }

    async fn list_tags(&self, arn: &str) -> Result<Vec<Tag>, AwsError> {
        self.limits
            .acquire(&self.region, "ListTagsForResource")
            .await;
        let result = self
            .client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListTagsForResource", e));
        self.record("ListTagsForResource", false, &result);
        Ok(result?
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
            .collect())
    }

    async fn put_alarm(&self, alarm: &AlarmConfig, tags: &[Tag]) -> Result<(), AwsError> {
        let request = self
            .client
            .put_metric_alarm()
            .alarm_name(&alarm.name)
            .alarm_description(&alarm.description)
            .namespace(&alarm.namespace)
            .metric_name(&alarm.metric_name)
            .set_dimensions(Some(
                alarm
                    .dimensions
                    .iter()
                    .map(|(name, value)| Dimension::builder().name(name).value(value).build())
                    .collect(),
            ))
            .period(alarm.period)
            .evaluation_periods(alarm.evaluation_periods)
            .threshold(alarm.threshold)
            .comparison_operator(ComparisonOperator::from(alarm.comparison.as_str()))
            .actions_enabled(alarm.actions_enabled)
            .set_alarm_actions(Some(alarm.actions.clone()))
            .set_ok_actions(Some(alarm.ok_actions.clone()))
            .treat_missing_data(&alarm.treat_missing_data)
            .set_tags(Some(sdk_tags(tags)));
        let request = match Statistic::values().contains(&alarm.statistic.as_str()) {
            true => request.statistic(Statistic::from(alarm.statistic.as_str())),
            false => request.extended_statistic(&alarm.statistic),
        };
        self.limits.acquire(&self.region, "PutMetricAlarm").await;
        let result = request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("PutMetricAlarm", e));
        self.record("PutMetricAlarm", true, &result);
        result
    }

    async fn tag_alarm(&self, arn: &str, tags: &[Tag]) -> Result<(), AwsError> {
        self.limits.acquire(&self.region, "TagResource").await;
        let result = self
            .client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(sdk_tags(tags)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("TagResource", e));
        self.record("TagResource", true, &result);
        result
    }

    async fn delete_alarms(&self, names: &[String]) -> Result<(), AwsError> {
        for chunk in names.chunks(NAMES_PER_CALL) {
            self.limits.acquire(&self.region, "DeleteAlarms").await;
            let result = self
                .client
                .delete_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| AwsError::from_sdk("DeleteAlarms", e));
            self.record("DeleteAlarms", true, &result);
            result?;
        }
        Ok(())
    }
}
