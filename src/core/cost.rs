//! What a guard's CloudWatch alarms and dashboard cost a month at AWS's list prices, so a
//! platform team sees what guarding a fleet costs before it applies it. Pure.

use std::fmt;

use crate::core::crd::ApiGatewayGuardSpec;
use crate::core::model::{AlarmConfig, AlarmRule};
use crate::core::model::{GuardId, GuardedApi};
use crate::core::plan::alarm_slots;

/// CloudWatch's list prices in US dollars a month (us-east-1; most regions charge the same,
/// some more), and when they were read.
pub struct Prices {
    pub read: &'static str,
    /// A standard-resolution metric alarm (a period of 60 s or more: API Gateway's metrics are
    /// per minute, so the operator makes no other), per metric: a metric-math alarm costs this
    /// for each metric it reads.
    pub standard_alarm: f64,
    /// A composite alarm.
    pub composite_alarm: f64,
    /// A dashboard, beyond the account's three free ones.
    pub dashboard: f64,
}

/// The one price table.
pub const PRICES: Prices = Prices {
    read: "2026-11",
    standard_alarm: 0.10,
    composite_alarm: 0.50,
    dashboard: 3.00,
};

/// A guard's monthly cost in US dollars, by what it keeps.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MonthlyCost {
    pub alarms: usize,
    pub alarms_usd: f64,
    pub dashboards: usize,
    pub dashboards_usd: f64,
}

impl MonthlyCost {
    pub fn total(&self) -> f64 {
        self.alarms_usd + self.dashboards_usd
    }
}

impl std::ops::AddAssign<&MonthlyCost> for MonthlyCost {
    fn add_assign(&mut self, other: &MonthlyCost) {
        self.alarms += other.alarms;
        self.alarms_usd += other.alarms_usd;
        self.dashboards += other.dashboards;
        self.dashboards_usd += other.dashboards_usd;
    }
}

impl fmt::Display for MonthlyCost {
    /// `$3.30 a month (3 alarms $0.30, 1 dashboard $3.00)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "${:.2} a month ({} alarm(s) ${:.2}, {} dashboard(s) ${:.2})",
            self.total(),
            self.alarms,
            self.alarms_usd,
            self.dashboards,
            self.dashboards_usd
        )
    }
}

/// What the alarms and dashboard the spec wants cost a month. Usage-priced extras are not
/// counted: access log ingestion and storage, detailed metrics' per-route metrics, and the
/// operator's own GetMetricData reads, which depend on traffic and fleet size.
pub fn monthly(guard: &GuardId, spec: &ApiGatewayGuardSpec, api: &GuardedApi) -> MonthlyCost {
    let mut cost = MonthlyCost::default();
    for (_, _, alarm) in alarm_slots(guard, spec, api) {
        if let Some(alarm) = alarm {
            cost.alarms += 1;
            cost.alarms_usd += price(&alarm);
        }
    }
    if spec.controls.dashboard.as_ref().is_some_and(|d| d.enabled) {
        cost.dashboards = 1;
        cost.dashboards_usd = PRICES.dashboard;
    }
    cost
}

/// One alarm's monthly price: a composite's flat price, or a metric alarm's per metric it
/// reads.
fn price(alarm: &AlarmConfig) -> f64 {
    match &alarm.rule {
        AlarmRule::Composite { .. } => PRICES.composite_alarm,
        AlarmRule::Threshold(threshold) => {
            PRICES.standard_alarm * threshold.metric.metric_count() as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(yaml: &str) -> MonthlyCost {
        let spec: ApiGatewayGuardSpec = serde_yaml::from_str(yaml).unwrap();
        let guard = GuardId {
            namespace: "ns".to_owned(),
            name: "g".to_owned(),
        };
        monthly(&guard, &spec, &GuardedApi::default())
    }

    #[test]
    fn each_alarm_costs_by_the_metrics_it_reads_and_a_dashboard_its_flat_price() {
        let full = cost("restApi: {id: a}\nstage: prod\nalarms: {}\ndashboard: {}\n");
        assert_eq!((full.alarms, full.dashboards), (3, 1));
        assert!((full.total() - 3.30).abs() < 1e-9, "{full}");
        assert_eq!(
            full.to_string(),
            "$3.30 a month (3 alarm(s) $0.30, 1 dashboard(s) $3.00)"
        );
        // A disabled alarm and dashboard cost nothing.
        let tuned = cost(
            "httpApi: {id: a}\nstage: $default\nalarms: {fiveXXError: {periodSeconds: 60}, \
             latency: {enabled: false}}\ndashboard: {enabled: false}\n",
        );
        assert_eq!((tuned.alarms, tuned.dashboards), (2, 0));
        assert!((tuned.alarms_usd - 0.20).abs() < 1e-9, "{tuned}");
        // Nothing managed, nothing paid.
        assert_eq!(
            cost("restApi: {id: a}\nstage: prod\n"),
            MonthlyCost::default()
        );
    }
}
