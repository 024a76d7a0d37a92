//! What a guard's CloudWatch alarms and dashboard cost a month at AWS's list prices, so a
//! platform team sees what guarding a fleet costs before it applies it. Pure.

use std::fmt;

use crate::core::crd::ApiGatewayGuardSpec;
use crate::core::model::{GuardId, GuardedApi};
use crate::core::plan::Control;

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

/// What the alarms and dashboard the spec wants cost a month: each control's own cost, as it
/// declares it. Usage-priced extras are not counted: access log ingestion and storage,
/// detailed metrics' per-route metrics, and the operator's own GetMetricData reads, which
/// depend on traffic and fleet size.
pub fn monthly(guard: &GuardId, spec: &ApiGatewayGuardSpec, api: &GuardedApi) -> MonthlyCost {
    let mut cost = MonthlyCost::default();
    for control in Control::ALL {
        if let Some(of) = control.declared().cost {
            cost += &of(guard, spec, api);
        }
    }
    cost
}
