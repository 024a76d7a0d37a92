//! The aws-sdk-cloudwatch implementation of [`CloudWatch`].

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::operation::describe_alarms::builders::DescribeAlarmsFluentBuilder;
use aws_sdk_cloudwatch::types::{
    AlarmType, ComparisonOperator, Dimension, MetricAlarm, Statistic, Tag as SdkTag,
};

use super::meter::Meter;
use std::collections::HashMap;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Metric, MetricDataQuery, MetricStat, ScanBy};

use super::CloudWatch;
use crate::model::{
    AlarmConfig, AwsError, MinutePeaks, ObservedAlarm, StageKey, StageMetrics, Tag,
};

/// DescribeAlarms and DeleteAlarms take at most 100 names a call.
const NAMES_PER_CALL: usize = 100;
/// DescribeAlarms' largest page.
const PAGE: i32 = 100;
/// The verification window: the runbook's 5-minute alarm period.
pub const METRICS_PERIOD: i32 = 300;
/// GetMetricData takes at most 500 queries a call: 100 stages of 5.
const STAGES_PER_CALL: usize = 100;
/// (query id prefix, metric, statistic) for each figure of [`StageMetrics`].
const FIGURES: [(&str, &str, &str); 5] = [
    ("e", "5XXError", "Sum"),
    ("c", "4XXError", "Sum"),
    ("n", "Count", "Sum"),
    ("l", "Latency", "p99"),
    ("i", "IntegrationLatency", "p99"),
];

/// The codes CloudWatch answers GetDashboard and DeleteDashboards with for a missing
/// dashboard (the query protocol's and the shape's name).
const DASHBOARD_NOT_FOUND: &[&str] = &["ResourceNotFound", "DashboardNotFoundError"];

/// One `AWS/ApiGateway` figure of a stage, per `period` seconds.
fn stage_query(
    id: String,
    (api, stage): &StageKey,
    metric: &str,
    stat: &str,
    period: i32,
) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace("AWS/ApiGateway")
        .metric_name(metric)
        .dimensions(Dimension::builder().name("ApiName").value(api).build())
        .dimensions(Dimension::builder().name("Stage").value(stage).build())
        .build();
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(period)
                .stat(stat)
                .build(),
        )
        .build()
}

/// CloudWatch through the AWS SDK; every call goes through the [`Meter`].
#[derive(Clone, Debug)]
pub struct SdkCloudWatch {
    client: Client,
    meter: Meter,
    /// STS, for the account the alarms live in.
    sts: (aws_sdk_sts::Client, Meter),
}

impl SdkCloudWatch {
    pub fn new(client: Client, meter: Meter, sts: (aws_sdk_sts::Client, Meter)) -> Self {
        Self { client, meter, sts }
    }

    /// The metrics of many stages over the last window, 100 stages a GetMetricData call.
    pub async fn metrics_of(
        &self,
        stages: &[StageKey],
    ) -> Result<HashMap<StageKey, StageMetrics>, AwsError> {
        self.metrics_over(stages, METRICS_PERIOD).await
    }

    /// GetMetricData over [start, end] (epoch seconds), paged: every query's values by id.
    async fn metric_values(
        &self,
        queries: Vec<MetricDataQuery>,
        start: i64,
        end: i64,
    ) -> Result<HashMap<String, Vec<f64>>, AwsError> {
        let mut values: HashMap<String, Vec<f64>> = HashMap::new();
        let mut next_token = None;
        loop {
            let request = self
                .client
                .get_metric_data()
                .set_metric_data_queries(Some(queries.clone()))
                .start_time(DateTime::from_secs(start))
                .end_time(DateTime::from_secs(end))
                .scan_by(ScanBy::TimestampDescending)
                .set_next_token(next_token.take())
                .send();
            let page = self.meter.call("GetMetricData", false, request).await?;
            for result in page.metric_data_results() {
                values
                    .entry(result.id().unwrap_or_default().to_owned())
                    .or_default()
                    .extend(result.values());
            }
            match page.next_token() {
                Some(token) => next_token = Some(token.to_owned()),
                None => return Ok(values),
            }
        }
    }

    /// The busiest and the slowest minute of one stage over the last `window` seconds: a
    /// short episode that the window's totals would dilute.
    pub async fn minute_peaks(&self, key: &StageKey, window: i32) -> Result<MinutePeaks, AwsError> {
        let end = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let queries = vec![
            stage_query("n".to_owned(), key, "Count", "Sum", 60),
            stage_query("i".to_owned(), key, "IntegrationLatency", "p99", 60),
        ];
        let values = self
            .metric_values(queries, end - i64::from(window), end)
            .await?;
        let peak = |id: &str| values.get(id)?.iter().copied().reduce(f64::max);
        Ok(MinutePeaks {
            rate: peak("n").map(|requests| requests / 60.0),
            integration_latency_p99: peak("i"),
        })
    }

    /// The metrics of many stages over the last `period` seconds (a multiple of 60).
    pub async fn metrics_over(
        &self,
        stages: &[StageKey],
        period: i32,
    ) -> Result<HashMap<StageKey, StageMetrics>, AwsError> {
        let end = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let mut metrics = HashMap::new();
        for chunk in stages.chunks(STAGES_PER_CALL) {
            let queries: Vec<MetricDataQuery> = chunk
                .iter()
                .enumerate()
                .flat_map(|(i, key)| {
                    FIGURES.iter().map(move |(id, metric, stat)| {
                        stage_query(format!("{id}{i}"), key, metric, stat, period)
                    })
                })
                .collect();
            let values = self
                .metric_values(queries, end - i64::from(period), end)
                .await?;
            for (i, key) in chunk.iter().enumerate() {
                // A window may straddle two data points: sums add up, p99 takes the worse.
                let figure = |id: &str, stat: &str| {
                    let points = values.get(&format!("{id}{i}"))?;
                    match stat {
                        "Sum" => Some(points.iter().sum()),
                        _ => points.iter().copied().reduce(f64::max),
                    }
                    .filter(|_| !points.is_empty())
                };
                let [e, c, n, l, i_] = FIGURES.map(|(id, _, stat)| figure(id, stat));
                metrics.insert(
                    key.clone(),
                    StageMetrics {
                        period,
                        five_xx: e,
                        four_xx: c,
                        count: n,
                        latency_p99: l,
                        integration_latency_p99: i_,
                    },
                );
            }
        }
        Ok(metrics)
    }

    /// Every metric alarm whose name starts with `prefix` (DescribeAlarms, 100 a page).
    pub async fn alarms_with_prefix(&self, prefix: &str) -> Result<Vec<ObservedAlarm>, AwsError> {
        let mut alarms = Vec::new();
        let request = self
            .client
            .describe_alarms()
            .alarm_name_prefix(prefix)
            .alarm_types(AlarmType::MetricAlarm)
            .max_records(PAGE);
        self.describe_pages(request, &mut alarms).await?;
        Ok(alarms)
    }

    /// Sends `request` and every next page it points to (DescribeAlarms), adding the metric
    /// alarms to `alarms`.
    async fn describe_pages(
        &self,
        request: DescribeAlarmsFluentBuilder,
        alarms: &mut Vec<ObservedAlarm>,
    ) -> Result<(), AwsError> {
        let mut next_token = None;
        loop {
            let page_request = request.clone().set_next_token(next_token.take()).send();
            let page = self
                .meter
                .call("DescribeAlarms", false, page_request)
                .await?;
            alarms.extend(page.metric_alarms().iter().filter_map(observed));
            match page.next_token() {
                Some(token) => next_token = Some(token.to_owned()),
                None => return Ok(()),
            }
        }
    }
}

fn observed(alarm: &MetricAlarm) -> Option<ObservedAlarm> {
    Some(ObservedAlarm {
        name: alarm.alarm_name()?.to_owned(),
        arn: alarm.alarm_arn()?.to_owned(),
        config: config_of(alarm),
        state: alarm
            .state_value()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_else(|| "INSUFFICIENT_DATA".to_owned()),
    })
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
            let request = self
                .client
                .describe_alarms()
                .set_alarm_names(Some(chunk.to_vec()));
            self.describe_pages(request, &mut alarms).await?;
        }
        Ok(alarms)
    }

    async fn list_tags(&self, arn: &str) -> Result<Vec<Tag>, AwsError> {
        let request = self
            .client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send();
        let out = self
            .meter
            .call("ListTagsForResource", false, request)
            .await?;
        Ok(out
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
        self.meter
            .call("PutMetricAlarm", true, request.send())
            .await
            .map(|_| ())
    }

    async fn tag_alarm(&self, arn: &str, tags: &[Tag]) -> Result<(), AwsError> {
        let request = self
            .client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(sdk_tags(tags)))
            .send();
        self.meter
            .call("TagResource", true, request)
            .await
            .map(|_| ())
    }

    async fn stage_metrics(&self, api_name: &str, stage: &str) -> Result<StageMetrics, AwsError> {
        let key = (api_name.to_owned(), stage.to_owned());
        let mut metrics = self.metrics_of(std::slice::from_ref(&key)).await?;
        Ok(metrics.remove(&key).unwrap_or_default())
    }

    async fn delete_alarms(&self, names: &[String]) -> Result<(), AwsError> {
        for chunk in names.chunks(NAMES_PER_CALL) {
            let request = self
                .client
                .delete_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .send();
            self.meter.call("DeleteAlarms", true, request).await?;
        }
        Ok(())
    }

    fn region(&self) -> &str {
        self.meter.region()
    }

    async fn account_id(&self) -> Result<String, AwsError> {
        let (client, meter) = &self.sts;
        let request = client.get_caller_identity().send();
        let out = meter.call("GetCallerIdentity", false, request).await?;
        out.account.ok_or_else(|| {
            AwsError::permanent("GetCallerIdentity", "NoAccount", "STS named no account")
        })
    }

    async fn get_dashboard(&self, name: &str) -> Result<Option<String>, AwsError> {
        let request = self.client.get_dashboard().dashboard_name(name).send();
        match self.meter.call("GetDashboard", false, request).await {
            Ok(out) => Ok(Some(out.dashboard_body.unwrap_or_default())),
            Err(err) if DASHBOARD_NOT_FOUND.contains(&err.code.as_str()) => Ok(None),
            Err(err) => Err(err),
        }
    }

    async fn put_dashboard(&self, name: &str, body: &str) -> Result<(), AwsError> {
        let request = self
            .client
            .put_dashboard()
            .dashboard_name(name)
            .dashboard_body(body)
            .send();
        let out = self.meter.call("PutDashboard", true, request).await?;
        // Warnings only: the dashboard was written, but some widget may not render.
        for message in out.dashboard_validation_messages() {
            tracing::warn!(
                dashboard = name,
                path = message.data_path().unwrap_or_default(),
                "PutDashboard: {}",
                message.message().unwrap_or_default()
            );
        }
        Ok(())
    }

    async fn delete_dashboards(&self, names: &[String]) -> Result<(), AwsError> {
        let request = self
            .client
            .delete_dashboards()
            .set_dashboard_names(Some(names.to_vec()))
            .send();
        match self.meter.call("DeleteDashboards", true, request).await {
            Err(err) if !DASHBOARD_NOT_FOUND.contains(&err.code.as_str()) => Err(err),
            _ => Ok(()),
        }
    }
}
