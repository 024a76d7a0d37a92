//! The aws-sdk-cloudwatch implementation of [`CloudWatch`]; its log group calls go to
//! CloudWatch Logs ([`SdkLogs`]).

use std::collections::HashMap;

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::operation::describe_alarms::builders::DescribeAlarmsFluentBuilder;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    AlarmType, ComparisonOperator, CompositeAlarm, Dimension, Metric, MetricAlarm, MetricDataQuery,
    MetricStat as SdkMetricStat, ScanBy, StateValue, Statistic, Tag as SdkTag,
};

use super::CloudWatch;
use super::logs::SdkLogs;
use super::meter::Meter;
use crate::core::model::{
    AlarmConfig, AlarmMetric, AlarmRule, ApiKind, AwsError, MathQuery, MetricStat, MinutePeaks,
    ObjectiveMetrics, ObservedAlarm, ObservedLogGroup, Query, StageKey, StageMetrics, Suppressor,
    Tag, Threshold, served_period,
};

/// DescribeAlarms and DeleteAlarms take at most 100 names a call.
const NAMES_PER_CALL: usize = 100;
/// DescribeAlarms' largest page.
const PAGE: i32 = 100;
/// The verification window: the runbook's 5-minute alarm period.
pub const METRICS_PERIOD: i32 = 300;
/// GetMetricData takes at most 500 queries a call: 100 stages of at most 5 (each kind's
/// [`FIGURES`] metrics; a test holds every kind to 5).
const STAGES_PER_CALL: usize = 100;
/// Each figure of [`StageMetrics`]: its query id prefix, statistic and metric.
const FIGURES: [(&str, &str, FigureMetric); 5] = [
    ("e", "Sum", FigureMetric::ServerErrors),
    ("c", "Sum", FigureMetric::ClientErrors),
    ("n", "Sum", FigureMetric::Traffic),
    ("l", "p99", FigureMetric::Latency),
    ("i", "p99", FigureMetric::IntegrationLatency),
];

/// A figure's metrics, in each kind's own names ([`crate::core::kind::Metrics`]): none where
/// the kind publishes none, several where their sum is the figure.
#[derive(Clone, Copy)]
enum FigureMetric {
    ServerErrors,
    ClientErrors,
    Traffic,
    Latency,
    IntegrationLatency,
}

impl FigureMetric {
    fn on(self, kind: ApiKind) -> &'static [&'static str] {
        let metrics = &kind.profile().metrics;
        match self {
            FigureMetric::ServerErrors => metrics.server_errors,
            FigureMetric::ClientErrors => std::slice::from_ref(&metrics.client_errors),
            FigureMetric::Traffic => std::slice::from_ref(&metrics.traffic),
            FigureMetric::Latency => metrics.latency.as_slice(),
            FigureMetric::IntegrationLatency => &["IntegrationLatency"],
        }
    }
}

/// The queries of one figure of the stage at `i` in a call: one per metric, ids
/// `{prefix}{i}_{n}`, unique in the call whatever the kind.
fn figure_queries(
    (prefix, stat, metric): &(&str, &str, FigureMetric),
    i: usize,
    key: &StageKey,
    period: i32,
) -> Vec<MetricDataQuery> {
    metric
        .on(key.kind)
        .iter()
        .enumerate()
        .map(|(n, name)| stage_query(format!("{prefix}{i}_{n}"), key, name, stat, period))
        .collect()
}

/// The points of one figure of the stage at `i`: every metric's, together.
fn figure_points(
    values: &HashMap<String, Vec<(i64, f64)>>,
    prefix: &str,
    i: usize,
) -> Option<Vec<(i64, f64)>> {
    let mut points = Vec::new();
    let mut found = false;
    for n in 0.. {
        let Some(part) = values.get(&format!("{prefix}{i}_{n}")) else {
            break;
        };
        found = true;
        points.extend_from_slice(part);
    }
    found.then_some(points)
}

/// A stage's figures over `period`, each [`FIGURES`] entry from `figure` (its query id prefix
/// and statistic).
fn figures(period: i32, figure: impl Fn(&str, &str) -> Option<f64>) -> StageMetrics {
    let [e, c, n, l, i] = FIGURES.map(|(id, stat, _)| figure(id, stat));
    StageMetrics {
        period,
        five_xx: e,
        four_xx: c,
        count: n,
        latency_p99: l,
        integration_latency_p99: i,
    }
}

/// The codes CloudWatch answers GetDashboard and DeleteDashboards with for a missing
/// dashboard (the query protocol's and the shape's name).
const DASHBOARD_NOT_FOUND: &[&str] = &["ResourceNotFound", "DashboardNotFoundError"];

/// One `AWS/ApiGateway` figure of a stage, per `period` seconds: a REST API's stage is
/// dimensioned by the API's name, an HTTP API's by its id.
fn stage_query(
    id: String,
    key: &StageKey,
    metric: &str,
    stat: &str,
    period: i32,
) -> MetricDataQuery {
    let api_dimension = key.kind.profile().api_dimension.name();
    let metric = Metric::builder()
        .namespace("AWS/ApiGateway")
        .metric_name(metric)
        .dimensions(
            Dimension::builder()
                .name(api_dimension)
                .value(&key.api)
                .build(),
        )
        .dimensions(Dimension::builder().name("Stage").value(&key.stage).build())
        .build();
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(
            SdkMetricStat::builder()
                .metric(metric)
                .period(period)
                .stat(stat)
                .build(),
        )
        .build()
}

/// Every figure of each stage, of any kind, for one GetMetricData call.
fn metric_queries(stages: &[StageKey], period: i32) -> Vec<MetricDataQuery> {
    stages
        .iter()
        .enumerate()
        .flat_map(|(i, key)| {
            FIGURES
                .iter()
                .flat_map(move |figure| figure_queries(figure, i, key, period))
        })
        .collect()
}

/// CloudWatch through the AWS SDK; every call goes through the [`Meter`].
#[derive(Clone, Debug)]
pub struct SdkCloudWatch {
    client: Client,
    meter: Meter,
    /// STS, for the account the alarms live in.
    sts: (aws_sdk_sts::Client, Meter),
    /// CloudWatch Logs, for the access log group.
    logs: SdkLogs,
}

impl SdkCloudWatch {
    pub(super) fn new(
        client: Client,
        meter: Meter,
        sts: (aws_sdk_sts::Client, Meter),
        logs: SdkLogs,
    ) -> Self {
        Self {
            client,
            meter,
            sts,
            logs,
        }
    }

    /// The CloudWatch Logs client of the same identity and region.
    pub(super) fn logs(&self) -> &SdkLogs {
        &self.logs
    }

    /// The metrics of many stages, of either kind of API, over the last window, 100 stages a
    /// GetMetricData call.
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
        let points = self.metric_points(queries, start, end).await?;
        Ok(points
            .into_iter()
            .map(|(id, points)| (id, points.into_iter().map(|(_, v)| v).collect()))
            .collect())
    }

    /// GetMetricData over [start, end] (epoch seconds), paged: every query's points, newest
    /// first, as (timestamp, value) by id.
    async fn metric_points(
        &self,
        queries: Vec<MetricDataQuery>,
        start: i64,
        end: i64,
    ) -> Result<HashMap<String, Vec<(i64, f64)>>, AwsError> {
        let mut values: HashMap<String, Vec<(i64, f64)>> = HashMap::new();
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
                let times = result.timestamps().iter().map(DateTime::secs);
                values
                    .entry(result.id().unwrap_or_default().to_owned())
                    .or_default()
                    .extend(times.zip(result.values().iter().copied()));
            }
            match page.next_token() {
                Some(token) => next_token = Some(token.to_owned()),
                None => return Ok(values),
            }
        }
    }

    /// The busiest and the slowest minute of one stage over the last `window` seconds: a
    /// short episode that the window's totals would dilute. Per minute while CloudWatch keeps
    /// the window's minutes ([`served_period`]), else per 5 minutes or per hour.
    pub async fn minute_peaks(&self, key: &StageKey, window: i32) -> Result<MinutePeaks, AwsError> {
        let end = now_secs();
        let period = served_period(i64::from(window));
        let traffic = key.kind.profile().metrics.traffic;
        let queries = vec![
            stage_query("n".to_owned(), key, traffic, "Sum", period),
            stage_query("i".to_owned(), key, "IntegrationLatency", "p99", period),
        ];
        let values = self
            .metric_values(queries, end - i64::from(window), end)
            .await?;
        let peak = |id: &str| values.get(id)?.iter().copied().reduce(f64::max);
        Ok(MinutePeaks {
            period,
            rate: peak("n").map(|requests| requests / f64::from(period)),
            integration_latency_p99: peak("i"),
        })
    }

    /// The metrics of many stages over the last `period` seconds (a multiple of 60).
    pub async fn metrics_over(
        &self,
        stages: &[StageKey],
        period: i32,
    ) -> Result<HashMap<StageKey, StageMetrics>, AwsError> {
        let end = now_secs();
        let mut metrics = HashMap::new();
        for chunk in stages.chunks(STAGES_PER_CALL) {
            let queries = metric_queries(chunk, period);
            let values = self
                .metric_points(queries, end - i64::from(period), end)
                .await?;
            for (i, key) in chunk.iter().enumerate() {
                // A window may straddle two data points: sums add up, p99 takes the worse.
                let figure = |id: &str, stat: &str| {
                    let points = figure_points(&values, id, i)?;
                    let values = points.iter().map(|(_, v)| *v);
                    match stat {
                        "Sum" => Some(values.sum()),
                        _ => values.reduce(f64::max),
                    }
                    .filter(|_| !points.is_empty())
                };
                metrics.insert(key.clone(), figures(period, figure));
            }
        }
        Ok(metrics)
    }

    /// The errors and requests of many stages over their objectives' windows (days), and
    /// over the latest full hour, 100 stages a GetMetricData call: hourly sums up to the last
    /// whole hour, added up for the window.
    pub async fn objectives_of(
        &self,
        keys: &[(StageKey, i32)],
    ) -> Result<HashMap<(StageKey, i32), ObjectiveMetrics>, AwsError> {
        let end = now_secs() - now_secs().rem_euclid(3600);
        let mut figures = HashMap::new();
        let mut days: Vec<i32> = keys.iter().map(|(_, days)| *days).collect();
        days.sort_unstable();
        days.dedup();
        for window_days in days {
            let stages: Vec<&StageKey> = keys
                .iter()
                .filter(|(_, days)| *days == window_days)
                .map(|(stage, _)| stage)
                .collect();
            for chunk in stages.chunks(STAGES_PER_CALL) {
                let queries = chunk
                    .iter()
                    .enumerate()
                    .flat_map(|(i, key)| {
                        [&FIGURES[0], &FIGURES[2]]
                            .into_iter()
                            .flat_map(move |figure| figure_queries(figure, i, key, 3600))
                    })
                    .collect();
                let start = end - i64::from(window_days) * 86_400;
                let points = self.metric_points(queries, start, end).await?;
                for (i, key) in chunk.iter().enumerate() {
                    let (errors, requests) = (
                        figure_points(&points, "e", i),
                        figure_points(&points, "n", i),
                    );
                    let (errors, requests) = (errors.as_deref(), requests.as_deref());
                    figures.insert(
                        ((*key).clone(), window_days),
                        ObjectiveMetrics {
                            window_days,
                            errors: total(errors),
                            requests: total(requests),
                            hour_errors: last_hour(errors, end),
                            hour_requests: last_hour(requests, end),
                        },
                    );
                }
            }
        }
        Ok(figures)
    }

    /// When each dashboard whose name starts with `prefix` was last modified, by name
    /// (ListDashboards, paged).
    pub async fn dashboards_with_prefix(
        &self,
        prefix: &str,
    ) -> Result<HashMap<String, Option<DateTime>>, AwsError> {
        let mut dashboards = HashMap::new();
        let mut next_token = None;
        loop {
            let request = self
                .client
                .list_dashboards()
                .dashboard_name_prefix(prefix)
                .set_next_token(next_token.take())
                .send();
            let page = self.meter.call("ListDashboards", false, request).await?;
            for entry in page.dashboard_entries() {
                let Some(name) = entry.dashboard_name() else {
                    continue;
                };
                dashboards.insert(name.to_owned(), entry.last_modified().copied());
            }
            match page.next_token() {
                Some(token) if !page.dashboard_entries().is_empty() => {
                    next_token = Some(token.to_owned())
                }
                _ => return Ok(dashboards),
            }
        }
    }

    /// Every alarm, metric or composite, whose name starts with `prefix` (DescribeAlarms, 100
    /// a page).
    pub async fn alarms_with_prefix(&self, prefix: &str) -> Result<Vec<ObservedAlarm>, AwsError> {
        let mut alarms = Vec::new();
        let request = self
            .client
            .describe_alarms()
            .alarm_name_prefix(prefix)
            .alarm_types(AlarmType::MetricAlarm)
            .alarm_types(AlarmType::CompositeAlarm)
            .max_records(PAGE);
        self.describe_pages(request, &mut alarms).await?;
        Ok(alarms)
    }

    /// Sends `request` and every next page it points to (DescribeAlarms), adding the metric
    /// and composite alarms to `alarms`.
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
            alarms.extend(
                page.composite_alarms()
                    .iter()
                    .filter_map(observed_composite),
            );
            match page.next_token() {
                Some(token) => next_token = Some(token.to_owned()),
                None => return Ok(()),
            }
        }
    }
}

/// Seconds since the epoch, now.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The sum of the points; `None` without any.
fn total(points: Option<&[(i64, f64)]>) -> Option<f64> {
    points
        .filter(|points| !points.is_empty())
        .map(|points| points.iter().map(|(_, v)| v).sum())
}

/// The hour that ends at `end`'s points (one per metric of the figure), added up; `None` when
/// that hour had none (no traffic).
fn last_hour(points: Option<&[(i64, f64)]>, end: i64) -> Option<f64> {
    points?
        .iter()
        .filter(|(at, _)| *at == end - 3600)
        .map(|(_, v)| *v)
        .reduce(|a, b| a + b)
}

fn observed(alarm: &MetricAlarm) -> Option<ObservedAlarm> {
    Some(ObservedAlarm {
        name: alarm.alarm_name()?.to_owned(),
        arn: alarm.alarm_arn()?.to_owned(),
        config: config_of(alarm),
        state: state(alarm.state_value()),
    })
}

fn observed_composite(alarm: &CompositeAlarm) -> Option<ObservedAlarm> {
    let name = alarm.alarm_name()?.to_owned();
    let suppressor = alarm.actions_suppressor().map(|suppressor| Suppressor {
        alarm: suppressor.to_owned(),
        wait_period: alarm.actions_suppressor_wait_period().unwrap_or_default(),
        extension_period: alarm
            .actions_suppressor_extension_period()
            .unwrap_or_default(),
    });
    let config = alarm.alarm_rule().map(|rule| AlarmConfig {
        name: name.clone(),
        description: alarm.alarm_description().unwrap_or_default().to_owned(),
        actions_enabled: alarm.actions_enabled().unwrap_or(true),
        actions: alarm.alarm_actions().to_vec(),
        ok_actions: alarm.ok_actions().to_vec(),
        rule: AlarmRule::Composite {
            rule: rule.to_owned(),
            suppressor,
        },
    });
    Some(ObservedAlarm {
        name,
        arn: alarm.alarm_arn()?.to_owned(),
        config,
        state: state(alarm.state_value()),
    })
}

fn state(value: Option<&StateValue>) -> String {
    value
        .map(|s| s.as_str().to_owned())
        .unwrap_or_else(|| "INSUFFICIENT_DATA".to_owned())
}

/// A metric and its statistic as the SDK has them; `None` when AWS left out a field.
fn stat_of(
    metric: Option<&Metric>,
    statistic: Option<String>,
    period: Option<i32>,
) -> Option<MetricStat> {
    let metric = metric?;
    let mut dimensions: Vec<(String, String)> = metric
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
    Some(MetricStat {
        namespace: metric.namespace()?.to_owned(),
        metric_name: metric.metric_name()?.to_owned(),
        dimensions,
        statistic: statistic?,
        period: period?,
    })
}

/// The managed part of a metric alarm, or `None` when AWS left out a field the guard sets.
fn config_of(alarm: &MetricAlarm) -> Option<AlarmConfig> {
    let metric = match alarm.metrics() {
        [] => {
            let statistic = match (alarm.statistic(), alarm.extended_statistic()) {
                (Some(statistic), _) => Some(statistic.as_str().to_owned()),
                (None, extended) => extended.map(str::to_owned),
            };
            let metric = Metric::builder()
                .set_namespace(alarm.namespace().map(str::to_owned))
                .set_metric_name(alarm.metric_name().map(str::to_owned))
                .set_dimensions(Some(alarm.dimensions().to_vec()))
                .build();
            AlarmMetric::Stat(stat_of(Some(&metric), statistic, alarm.period())?)
        }
        queries => AlarmMetric::Math(
            queries
                .iter()
                .map(|q| {
                    let query = match (q.expression(), q.metric_stat()) {
                        (Some(expression), _) => Query::Expression(expression.to_owned()),
                        (None, Some(stat)) => Query::Stat(stat_of(
                            stat.metric(),
                            stat.stat().map(str::to_owned),
                            stat.period(),
                        )?),
                        (None, None) => return None,
                    };
                    Some(MathQuery {
                        id: q.id()?.to_owned(),
                        query,
                        // AWS's default when the field is absent.
                        return_data: q.return_data().unwrap_or(true),
                    })
                })
                .collect::<Option<Vec<_>>>()?,
        ),
    };
    Some(AlarmConfig {
        name: alarm.alarm_name()?.to_owned(),
        description: alarm.alarm_description().unwrap_or_default().to_owned(),
        // AWS's default when the field is absent.
        actions_enabled: alarm.actions_enabled().unwrap_or(true),
        actions: alarm.alarm_actions().to_vec(),
        ok_actions: alarm.ok_actions().to_vec(),
        rule: AlarmRule::Threshold(Threshold {
            metric,
            evaluation_periods: alarm.evaluation_periods()?,
            datapoints_to_alarm: alarm.datapoints_to_alarm(),
            threshold: alarm.threshold()?,
            comparison: alarm.comparison_operator()?.as_str().to_owned(),
            treat_missing_data: alarm.treat_missing_data().unwrap_or("missing").to_owned(),
        }),
    })
}

fn sdk_metric(stat: &MetricStat) -> Metric {
    Metric::builder()
        .namespace(&stat.namespace)
        .metric_name(&stat.metric_name)
        .set_dimensions(Some(
            stat.dimensions
                .iter()
                .map(|(name, value)| Dimension::builder().name(name).value(value).build())
                .collect(),
        ))
        .build()
}

fn sdk_query(query: &MathQuery) -> MetricDataQuery {
    let built = MetricDataQuery::builder()
        .id(&query.id)
        .return_data(query.return_data);
    match &query.query {
        Query::Expression(expression) => built.expression(expression),
        Query::Stat(stat) => built.metric_stat(
            SdkMetricStat::builder()
                .metric(sdk_metric(stat))
                .period(stat.period)
                .stat(&stat.statistic)
                .build(),
        ),
    }
    .build()
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
                .alarm_types(AlarmType::MetricAlarm)
                .alarm_types(AlarmType::CompositeAlarm)
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
        let threshold = match &alarm.rule {
            AlarmRule::Threshold(threshold) => threshold,
            AlarmRule::Composite { rule, suppressor } => {
                let request = self
                    .client
                    .put_composite_alarm()
                    .alarm_name(&alarm.name)
                    .alarm_description(&alarm.description)
                    .alarm_rule(rule)
                    .actions_enabled(alarm.actions_enabled)
                    .set_alarm_actions(Some(alarm.actions.clone()))
                    .set_ok_actions(Some(alarm.ok_actions.clone()))
                    .set_actions_suppressor(suppressor.as_ref().map(|s| s.alarm.clone()))
                    .set_actions_suppressor_wait_period(suppressor.as_ref().map(|s| s.wait_period))
                    .set_actions_suppressor_extension_period(
                        suppressor.as_ref().map(|s| s.extension_period),
                    )
                    .set_tags(Some(sdk_tags(tags)));
                return self
                    .meter
                    .call("PutCompositeAlarm", true, request.send())
                    .await
                    .map(|_| ());
            }
        };
        let request = self
            .client
            .put_metric_alarm()
            .alarm_name(&alarm.name)
            .alarm_description(&alarm.description)
            .evaluation_periods(threshold.evaluation_periods)
            .set_datapoints_to_alarm(threshold.datapoints_to_alarm)
            .threshold(threshold.threshold)
            .comparison_operator(ComparisonOperator::from(threshold.comparison.as_str()))
            .actions_enabled(alarm.actions_enabled)
            .set_alarm_actions(Some(alarm.actions.clone()))
            .set_ok_actions(Some(alarm.ok_actions.clone()))
            .treat_missing_data(&threshold.treat_missing_data)
            .set_tags(Some(sdk_tags(tags)));
        let request = match &threshold.metric {
            AlarmMetric::Math(queries) => {
                request.set_metrics(Some(queries.iter().map(sdk_query).collect()))
            }
            AlarmMetric::Stat(stat) => {
                let request = request
                    .namespace(&stat.namespace)
                    .metric_name(&stat.metric_name)
                    .set_dimensions(Some(sdk_metric(stat).dimensions().to_vec()))
                    .period(stat.period);
                match Statistic::values().contains(&stat.statistic.as_str()) {
                    true => request.statistic(Statistic::from(stat.statistic.as_str())),
                    false => request.extended_statistic(&stat.statistic),
                }
            }
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

    async fn stage_metrics(&self, stage: &StageKey) -> Result<StageMetrics, AwsError> {
        let mut metrics = self.metrics_of(std::slice::from_ref(stage)).await?;
        Ok(metrics.remove(stage).unwrap_or_default())
    }

    async fn deployment_metrics(
        &self,
        stage: &StageKey,
        start: i64,
        length: i64,
    ) -> Result<(StageMetrics, StageMetrics), AwsError> {
        let period = i32::try_from(length).unwrap_or(i32::MAX);
        let queries = metric_queries(std::slice::from_ref(stage), period);
        let points = self
            .metric_points(queries, start, start + 2 * length)
            .await?;
        // Each span is one data point per metric, whatever the statistic; a figure of
        // several metrics adds theirs up.
        let span = |at: i64| {
            figures(period, |id, _| {
                figure_points(&points, id, 0)?
                    .iter()
                    .filter(|(t, _)| *t == at)
                    .map(|(_, v)| *v)
                    .reduce(|a, b| a + b)
            })
        };
        Ok((span(start), span(start + length)))
    }

    async fn objective_metrics(
        &self,
        stage: &StageKey,
        window_days: i32,
    ) -> Result<Option<ObjectiveMetrics>, AwsError> {
        let key = (stage.clone(), window_days);
        let mut figures = self.objectives_of(std::slice::from_ref(&key)).await?;
        Ok(figures.remove(&key))
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

    async fn log_group(&self, name: &str) -> Result<ObservedLogGroup, AwsError> {
        self.logs.log_group(name, true, || self.account_id()).await
    }

    async fn create_log_group(
        &self,
        name: &str,
        retention_days: i32,
        tags: &[Tag],
    ) -> Result<(), AwsError> {
        self.logs.create(name, retention_days, tags).await
    }

    async fn put_retention(&self, name: &str, retention_days: i32) -> Result<(), AwsError> {
        self.logs.put_retention(name, retention_days).await
    }

    async fn delete_log_group(&self, name: &str) -> Result<(), AwsError> {
        self.logs.delete(name).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each query's id, metric name and dimensions.
    fn described(query: &MetricDataQuery) -> (String, String, Vec<(String, String)>) {
        let metric = query.metric_stat().and_then(|stat| stat.metric()).unwrap();
        let dimensions = metric
            .dimensions()
            .iter()
            .map(|d| (d.name().unwrap().to_owned(), d.value().unwrap().to_owned()))
            .collect();
        (
            query.id().unwrap().to_owned(),
            metric.metric_name().unwrap().to_owned(),
            dimensions,
        )
    }

    #[test]
    fn a_rest_and_an_http_stage_are_read_in_one_query_set_each_in_its_own_terms() {
        let key = |kind, api: &str| StageKey {
            kind,
            api: api.to_owned(),
            stage: "prod".to_owned(),
        };
        // The same text as a REST API's name and an HTTP API's id: two stages all the same.
        let stages = [key(ApiKind::Rest, "orders"), key(ApiKind::Http, "orders")];
        let queries: Vec<_> = metric_queries(&stages, METRICS_PERIOD)
            .iter()
            .map(described)
            .collect();
        assert_eq!(queries.len(), 10);
        let ids: std::collections::BTreeSet<&str> =
            queries.iter().map(|(id, _, _)| id.as_str()).collect();
        assert_eq!(ids.len(), 10, "ids are unique in the call");
        assert!(
            ids.iter()
                .all(|id| id.starts_with(|c: char| c.is_ascii_lowercase())
                    && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')),
            "GetMetricData ids start with a lower-case letter: {ids:?}"
        );
        let dimensions = |api: &str| {
            vec![
                (api.to_owned(), "orders".to_owned()),
                ("Stage".to_owned(), "prod".to_owned()),
            ]
        };
        let metrics = |from: usize| -> Vec<&str> {
            queries[from..from + 5]
                .iter()
                .map(|(_, metric, _)| metric.as_str())
                .collect()
        };
        assert_eq!(
            metrics(0),
            [
                "5XXError",
                "4XXError",
                "Count",
                "Latency",
                "IntegrationLatency"
            ]
        );
        assert!(
            queries[..5]
                .iter()
                .all(|(_, _, d)| *d == dimensions("ApiName"))
        );
        assert_eq!(
            metrics(5),
            ["5xx", "4xx", "Count", "Latency", "IntegrationLatency"]
        );
        assert!(
            queries[5..]
                .iter()
                .all(|(_, _, d)| *d == dimensions("ApiId"))
        );
    }
}
