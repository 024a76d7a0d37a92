//! `spec.slo`: an availability objective (and optionally a latency one), and the error-budget
//! burn-rate tiers that page on it.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the API server (CEL) and `validate` say of a bad objective: one text for both.
pub const SLO_AVAILABILITY: &str =
    "spec.slo.availability: a percent of requests strictly between 0 and 100, e.g. 99.9";
pub const SLO_LATENCY_OBJECTIVE: &str =
    "spec.slo.latency.objective: a percent of minutes strictly between 0 and 100, e.g. 99";
pub const SLO_UNREACHABLE: &str = "spec.slo.tiers: burnRate x (100 - availability) must stay under 100, to the 12 decimals of the alarm threshold: a tier that needs every request (or more) to fail can never fire";
pub const SLO_WINDOWS: &str =
    "spec.slo.tiers: shortWindowMinutes must be shorter than longWindowMinutes";
pub const SLO_LONG_WINDOWS: &str = "spec.slo.tiers: a window over one day (1440 minutes) must be whole hours: CloudWatch evaluates so long a latency window by the hour";
pub const SLO_COUNT_ALARM: &str = "spec.alarms.fiveXXError: a guard with an slo pages on its error budget, not on a count: drop fiveXXError's settings (or set enabled: false), or set slo.countAlarm: true to keep both";

/// The default tiers, the SRE workbook's multiwindow, multi-burn-rate alerts: burn rate,
/// long window and short window in minutes.
pub const DEFAULT_TIERS: [(f64, i32, i32); 3] = [(14.4, 60, 5), (6.0, 360, 30), (1.0, 4320, 360)];

/// Tiers a guard may have: each is five alarms, and the names are fixed by position.
pub const MAX_TIERS: usize = 4;

/// An objective for the stage: the share of requests answered without a 5XX over a window,
/// and the burn-rate tiers that page when the error budget goes too fast.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(
    validation = Rule::new("self.availability > 0.0 && self.availability < 100.0").message(SLO_AVAILABILITY),
    validation = Rule::new("!has(self.tiers) || self.tiers.all(t, double(t.burnRate) * (100.0 - double(self.availability)) < 100.0 && int(double(t.burnRate) * double(int((100.0 - double(self.availability)) * 1e10 + 0.5)) + 0.5) < 1000000000000)").message(SLO_UNREACHABLE)
)]
pub struct ObjectiveSpec {
    /// Percent of requests answered without a 5XX over windowDays, e.g. 99.9. The error
    /// budget is the rest: 0.1 % of requests.
    pub availability: f64,
    /// Days the objective and its error budget cover. Default 30.
    #[serde(default = "thirty")]
    #[schemars(range(min = 1, max = 90))]
    pub window_days: i32,
    /// A latency objective beside availability: the percent of minutes whose p99 Latency
    /// stays at or under thresholdMs. Its alarms join each tier's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyObjective>,
    /// Requests a tier's long window must hold before its error rate counts, so 1 error in 3
    /// requests is not a page. Default 100.
    #[serde(default = "hundred")]
    #[schemars(range(min = 1, max = 1000000000))]
    pub min_requests: i32,
    /// ARNs notified when a tier enters ALARM (the tier's composite alarm carries them).
    /// Default spec.alarms.actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 5),
        inner(regex(pattern = r"^arn:[^:]+:[^:]+:[^:]*:[^:]*:.+$"))
    )]
    pub actions: Option<Vec<String>>,
    /// ARNs notified when a tier returns to OK. Default spec.alarms.okActions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 5),
        inner(regex(pattern = r"^arn:[^:]+:[^:]+:[^:]*:[^:]*:.+$"))
    )]
    pub ok_actions: Option<Vec<String>>,
    /// Keep the runbook's 5XX count alarm (spec.alarms.fiveXXError) beside the burn-rate
    /// alarms. Default false: with an objective, the count alarm is not made.
    #[serde(default)]
    pub count_alarm: bool,
    /// The burn-rate tiers, highest burn first: each pages (through its composite alarm)
    /// when the error rate over both its long and its short window is burnRate times the
    /// budget's. A tier's actions wait while the tier above it is in ALARM. Default: 14.4x
    /// over 1 h and 5 min, 6x over 6 h and 30 min, 1x over 3 days and 6 h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4))]
    pub tiers: Option<Vec<BurnRateTier>>,
}

/// The latency objective.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(
    validation = Rule::new("self.thresholdMs > 0.0").message("spec.slo.latency.thresholdMs must be greater than 0"),
    validation = Rule::new("self.objective > 0.0 && self.objective < 100.0").message(SLO_LATENCY_OBJECTIVE)
)]
pub struct LatencyObjective {
    /// The p99 Latency a good minute stays at or under, in milliseconds.
    pub threshold_ms: f64,
    /// Percent of minutes that are good, e.g. 99.
    pub objective: f64,
}

/// One burn-rate tier.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(
    validation = Rule::new("self.burnRate > 0.0").message("spec.slo.tiers: burnRate must be greater than 0"),
    validation = Rule::new("self.shortWindowMinutes < self.longWindowMinutes").message(SLO_WINDOWS),
    validation = Rule::new("(self.longWindowMinutes <= 1440 || self.longWindowMinutes % 60 == 0) && (self.shortWindowMinutes <= 1440 || self.shortWindowMinutes % 60 == 0)").message(SLO_LONG_WINDOWS)
)]
pub struct BurnRateTier {
    /// How many times faster than the objective allows the budget burns, e.g. 14.4 (30
    /// days' budget gone in about 2 days).
    pub burn_rate: f64,
    /// The window that measures the burn, in minutes (at most 7 days: CloudWatch's longest
    /// alarm window).
    #[schemars(range(min = 2, max = 10080))]
    pub long_window_minutes: i32,
    /// The window that confirms it is still burning, so the page stops soon after the burn
    /// does, in minutes.
    #[schemars(range(min = 1, max = 10079))]
    pub short_window_minutes: i32,
    /// ARNs notified when this tier enters ALARM, e.g. a ticket queue for a slow tier.
    /// Default spec.slo.actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 5),
        inner(regex(pattern = r"^arn:[^:]+:[^:]+:[^:]*:[^:]*:.+$"))
    )]
    pub actions: Option<Vec<String>>,
}

fn thirty() -> i32 {
    30
}

fn hundred() -> i32 {
    100
}

impl ObjectiveSpec {
    /// The tiers the spec gives, or the defaults.
    pub fn tiers(&self) -> Vec<BurnRateTier> {
        self.tiers.clone().unwrap_or_else(|| {
            DEFAULT_TIERS
                .iter()
                .map(|&(burn_rate, long, short)| BurnRateTier {
                    burn_rate,
                    long_window_minutes: long,
                    short_window_minutes: short,
                    actions: None,
                })
                .collect()
        })
    }

    /// The share of requests the budget allows to fail, e.g. 0.001 for 99.9 % (to 12
    /// decimals: 100 - 99.9 is 0.09999999999999432 in floating point).
    pub fn budget(&self) -> f64 {
        self.budget_e12() / 1e12
    }

    /// A tier's alarm threshold on the share of requests that fail, to 12 decimals: what the
    /// planner writes and what the CEL rule (`SLO_UNREACHABLE`) refuses at 1, computed the
    /// same way in both (a whole share, 1000x on 99.9 %, is 1 however the floats fall).
    pub fn threshold(&self, burn_rate: f64) -> f64 {
        half_up(burn_rate * self.budget_e12()) / 1e12
    }

    /// The budget in 1e-12ths of the requests, rounded as CEL can: `int(x + 0.5)`.
    fn budget_e12(&self) -> f64 {
        half_up((100.0 - self.availability) * 1e10)
    }
}

/// `x` rounded half up, as CEL's `int(x + 0.5)` does it (int() truncates).
fn half_up(x: f64) -> f64 {
    (x + 0.5).trunc()
}

/// The objective as the guard's status reports it.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectiveStatus {
    /// The objective, e.g. "99.9 % of requests without a 5XX over 30 days".
    pub objective: String,
    /// Percent of the window's error budget left (negative once overspent); absent while
    /// the window has no requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_remaining_percent: Option<f64>,
    /// Requests over the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<f64>,
    /// 5XX responses over the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<f64>,
    /// How fast the budget burned over the latest hour (1 spends it exactly over the window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burn_rate_last_hour: Option<f64>,
    /// Each tier's composite alarm with its live state.
    #[serde(default)]
    pub tiers: Vec<TierStatus>,
}

/// One burn-rate tier's state.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TierStatus {
    /// 1 for the fastest burn.
    pub tier: i32,
    /// What it pages on, e.g. "14.4x over 1h, confirmed over 5m".
    pub rule: String,
    /// Its composite alarm's name.
    pub alarm: String,
    /// OK, ALARM or INSUFFICIENT_DATA.
    pub state: String,
}
