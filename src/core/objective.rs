//! An objective's alarms and figures: the burn-rate tiers of `spec.slo` as CloudWatch alarms
//! (two metric alarms per window pair, one composite per tier that pages), and the error
//! budget left from the window's totals. Pure.

use crate::core::crd::{ApiGatewayGuardSpec, BurnRateTier, ObjectiveSpec};
use crate::core::model::{
    AlarmConfig, AlarmMetric, AlarmRule, GuardId, GuardedApi, MathQuery, MetricStat,
    ObjectiveMetrics, ObjectivePart, Query, Suppressor, Threshold, alarm_description,
};

const NAMESPACE: &str = "AWS/ApiGateway";
/// Seconds a lower tier's composite waits for the tier above to enter ALARM before it
/// notifies: two tiers that fire together page once.
pub const SUPPRESSOR_WAIT: i32 = 120;
/// Seconds a lower tier stays quiet after the tier above returns to OK.
pub const SUPPRESSOR_EXTENSION: i32 = 300;

/// A window in minutes as people say it: `5m`, `1h`, `3d`.
pub fn window(minutes: i32) -> String {
    match minutes {
        m if m % 1440 == 0 => format!("{}d", m / 1440),
        m if m % 60 == 0 => format!("{}h", m / 60),
        m => format!("{m}m"),
    }
}

/// What a tier pages on, e.g. `14.4x over 1h, confirmed over 5m`.
pub fn rule_text(tier: &BurnRateTier) -> String {
    format!(
        "{}x over {}, confirmed over {}",
        tier.burn_rate,
        window(tier.long_window_minutes),
        window(tier.short_window_minutes)
    )
}

/// The objective as status says it.
pub fn describe(slo: &ObjectiveSpec) -> String {
    let mut text = format!(
        "{} % of requests without a 5XX over {} days",
        slo.availability, slo.window_days
    );
    if let Some(latency) = &slo.latency {
        text.push_str(&format!(
            "; {} % of minutes with p99 Latency at most {} ms",
            latency.objective, latency.threshold_ms
        ));
    }
    text
}

/// Every alarm the objective wants, in the order they must be written: each tier's metric
/// alarms, then the composites, fastest tier first (a composite names its metric alarms and
/// the tier above it, which must exist first). Empty without `spec.slo`.
pub fn alarms(guard: &GuardId, spec: &ApiGatewayGuardSpec, api: &GuardedApi) -> Vec<AlarmConfig> {
    let Some(slo) = &spec.controls.slo else {
        return Vec::new();
    };
    let tiers = slo.tiers();
    let mut children = Vec::new();
    let mut composites = Vec::new();
    for (i, tier) in tiers.iter().enumerate() {
        let number = i + 1;
        let name = |part| guard.objective_alarm_name(number, part);
        let tier_alarms = TierAlarms {
            guard,
            spec,
            slo,
            api,
            tier,
            number,
        };
        let mut rule = format!(
            "(ALARM(\"{}\") AND ALARM(\"{}\"))",
            name(ObjectivePart::ErrorsLong),
            name(ObjectivePart::ErrorsShort)
        );
        children.push(tier_alarms.errors(ObjectivePart::ErrorsLong));
        children.push(tier_alarms.errors(ObjectivePart::ErrorsShort));
        if slo.latency.is_some() {
            rule.push_str(&format!(
                " OR (ALARM(\"{}\") AND ALARM(\"{}\"))",
                name(ObjectivePart::LatencyLong),
                name(ObjectivePart::LatencyShort)
            ));
            children.push(tier_alarms.latency(ObjectivePart::LatencyLong));
            children.push(tier_alarms.latency(ObjectivePart::LatencyShort));
        }
        let actions = tier
            .actions
            .clone()
            .or_else(|| slo.actions.clone())
            .or_else(|| spec.controls.alarms.as_ref().map(|a| a.actions.clone()))
            .unwrap_or_default();
        let ok_actions = slo
            .ok_actions
            .clone()
            .or_else(|| spec.controls.alarms.as_ref().map(|a| a.ok_actions.clone()))
            .unwrap_or_default();
        let suppressor = (number > 1).then(|| Suppressor {
            alarm: guard.objective_alarm_name(number - 1, ObjectivePart::Composite),
            wait_period: SUPPRESSOR_WAIT,
            extension_period: SUPPRESSOR_EXTENSION,
        });
        composites.push(AlarmConfig {
            name: name(ObjectivePart::Composite),
            description: alarm_description(format!(
                "Tier {number} of the objective of {}/{} ({}): the error budget burns at {}{}. \
                 Guarded by apigw-guard {}; see the API Gateway 5XX runbook",
                api.shown_name(),
                spec.stage,
                describe(slo),
                rule_text(tier),
                match number {
                    1 => String::new(),
                    n => format!("; quiet while tier {} is in ALARM", n - 1),
                },
                guard.owner()
            )),
            actions_enabled: true,
            actions,
            ok_actions,
            rule: AlarmRule::Composite { rule, suppressor },
        });
    }
    children.extend(composites);
    children
}

/// What one tier's metric alarms are built from.
struct TierAlarms<'a> {
    guard: &'a GuardId,
    spec: &'a ApiGatewayGuardSpec,
    slo: &'a ObjectiveSpec,
    api: &'a GuardedApi,
    tier: &'a BurnRateTier,
    number: usize,
}

impl TierAlarms<'_> {
    fn minutes(&self, part: ObjectivePart) -> i32 {
        match part {
            ObjectivePart::ErrorsLong | ObjectivePart::LatencyLong => self.tier.long_window_minutes,
            _ => self.tier.short_window_minutes,
        }
    }

    fn stat(&self, metric: &str, statistic: &str, period: i32) -> MetricStat {
        MetricStat {
            namespace: NAMESPACE.to_owned(),
            metric_name: metric.to_owned(),
            dimensions: self.api.dimensions(&self.spec.stage),
            statistic: statistic.to_owned(),
            period,
        }
    }

    /// The error rate over one window as one data point, `errors / requests`, as metric
    /// math: 0 until the long window holds `minRequests` requests (the short one only needs
    /// one), so a handful of requests cannot page.
    fn errors(&self, part: ObjectivePart) -> AlarmConfig {
        let minutes = self.minutes(part);
        let period = minutes * 60;
        let floor = match part {
            ObjectivePart::ErrorsLong => self.slo.min_requests,
            _ => 1,
        };
        // To 12 decimals: 14.4 x (100 - 99.9) / 100 is 0.0144, not 0.014399999999999183.
        let threshold = self.slo.threshold(self.tier.burn_rate);
        // A kind counting its failures in several metrics (a WebSocket API) adds them up; its
        // requests are its traffic (a WebSocket API's messages).
        let metrics = &self.api.kind.profile().metrics;
        let errors = metrics.server_errors.iter();
        let mut queries = MathQuery::sum(
            "errors",
            errors.map(|m| self.stat(m, "Sum", period)).collect(),
            false,
        );
        queries.extend([
            MathQuery {
                id: "requests".to_owned(),
                query: Query::Stat(self.stat(metrics.traffic, "Sum", period)),
                return_data: false,
            },
            MathQuery {
                id: "rate".to_owned(),
                query: Query::Expression(format!("IF(requests >= {floor}, errors / requests, 0)")),
                return_data: true,
            },
        ]);
        let what = format!(
            "Error rate of {}/{} over {} above {}x the error budget ({:.4} %); counts only \
             once the window holds {floor} request(s)",
            self.api.shown_name(),
            self.spec.stage,
            window(minutes),
            self.tier.burn_rate,
            threshold * 100.0,
        );
        self.child(part, what, AlarmMetric::Math(queries), (1, None), threshold)
    }

    /// A metric alarm of the tier: no actions of its own (the composite pages), and no data
    /// (no traffic) is no burn.
    fn child(
        &self,
        part: ObjectivePart,
        what: String,
        metric: AlarmMetric,
        (evaluation_periods, datapoints_to_alarm): (i32, Option<i32>),
        threshold: f64,
    ) -> AlarmConfig {
        AlarmConfig {
            name: self.guard.objective_alarm_name(self.number, part),
            description: alarm_description(format!(
                "{what}. Part of tier {} of guard {} (apigw-guard); the tier's composite alarm \
                 pages",
                self.number,
                self.guard.owner()
            )),
            actions_enabled: true,
            actions: Vec::new(),
            ok_actions: Vec::new(),
            rule: AlarmRule::Threshold(Threshold {
                metric,
                evaluation_periods,
                datapoints_to_alarm,
                threshold,
                comparison: "GreaterThanThreshold".to_owned(),
                treat_missing_data: "notBreaching".to_owned(),
            }),
        }
    }

    /// Slow minutes over one window: p99 Latency per minute over the threshold in M of the
    /// window's N minutes, M = burn x the minutes the objective allows to be slow. A window
    /// over a day counts slow hours: CloudWatch evaluates at most a day of minutes.
    fn latency(&self, part: ObjectivePart) -> AlarmConfig {
        let latency = self.slo.latency.as_ref().expect("a latency objective");
        let minutes = self.minutes(part);
        let period = if minutes > 1440 { 3600 } else { 60 };
        let periods = minutes * 60 / period;
        let allowed = self.tier.burn_rate * (100.0 - latency.objective) / 100.0;
        let breaching = ((allowed * f64::from(periods)).ceil() as i32).clamp(1, periods);
        let unit = if period == 60 { "minute" } else { "hour" };
        let what = format!(
            "p99 Latency of {}/{} over {} ms in {breaching} of the last {periods} {unit}s ({}x \
             the slow {unit}s the objective allows)",
            self.api.shown_name(),
            self.spec.stage,
            latency.threshold_ms,
            self.tier.burn_rate,
        );
        let metric = AlarmMetric::Stat(self.stat("Latency", "p99", period));
        self.child(
            part,
            what,
            metric,
            (periods, Some(breaching)),
            latency.threshold_ms,
        )
    }
}

/// The budget's figures for status, from the window's totals.
#[derive(Clone, Debug, PartialEq)]
pub struct Budget {
    /// Percent of the budget left; `None` without requests.
    pub remaining_percent: Option<f64>,
    /// The latest hour's burn rate; `None` without requests in it.
    pub burn_last_hour: Option<f64>,
}

/// The budget left and the latest hour's burn rate: the share of requests that failed over
/// the budget's share.
pub fn budget(slo: &ObjectiveSpec, metrics: &ObjectiveMetrics) -> Budget {
    let burn = |errors: Option<f64>, requests: Option<f64>| {
        let requests = requests.filter(|n| *n > 0.0)?;
        Some(errors.unwrap_or(0.0) / requests / slo.budget())
    };
    Budget {
        remaining_percent: burn(metrics.errors, metrics.requests).map(|used| 100.0 * (1.0 - used)),
        burn_last_hour: burn(metrics.hour_errors, metrics.hour_requests),
    }
}

#[cfg(test)]
mod tests;
