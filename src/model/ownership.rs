//! Which alarms a guard has and owns: their names and the ownership tags they carry.

use std::fmt;

use super::Tag;
use crate::crd::{AlarmSettings, AlarmsSpec};

/// Tag key naming the guard (`namespace/name`) that owns an alarm.
pub const OWNER_TAG: &str = "apigw-guard.dev/owner";
/// Tag marking what created an alarm, for people browsing CloudWatch.
pub const MANAGED_BY_TAG: &str = "app.kubernetes.io/managed-by";
const MANAGED_BY: &str = "apigw-guard";
/// Alarm name prefix: every alarm the operator creates starts with it.
pub const ALARM_PREFIX: &str = "apigw-guard";

/// Which guard: its Kubernetes namespace and name, the basis of alarm names and ownership.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuardId {
    pub namespace: String,
    pub name: String,
}

impl GuardId {
    /// The owner tag's value.
    pub fn owner(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The tags every alarm of this guard carries.
    pub fn tags(&self) -> Vec<Tag> {
        vec![
            (OWNER_TAG.to_owned(), self.owner()),
            (MANAGED_BY_TAG.to_owned(), MANAGED_BY.to_owned()),
        ]
    }

    /// Whether `tags` name this guard as the owner.
    pub fn owns(&self, tags: &[Tag]) -> bool {
        tags.iter()
            .any(|(key, value)| key == OWNER_TAG && *value == self.owner())
    }

    /// The names this guard's alarms have, one per [`AlarmKind`], whether wanted or not.
    pub fn alarm_names(&self) -> Vec<String> {
        AlarmKind::ALL
            .iter()
            .map(|kind| self.alarm_name(*kind))
            .collect()
    }

    /// The name of this guard's CloudWatch dashboard. Dashboard names take only letters,
    /// digits, `-` and `_`, so the dots Kubernetes names may hold become `_` (which they
    /// cannot hold). Shorter than the alarm names, so their length check covers it.
    pub fn dashboard_name(&self) -> String {
        format!("{ALARM_PREFIX}-{}-{}", self.namespace, self.name).replace('.', "_")
    }

    /// What marks a dashboard body as this guard's: dashboards take no tags.
    pub fn dashboard_marker(&self) -> String {
        format!("{OWNER_TAG}={}", self.owner())
    }

    /// The name of this guard's alarm of one kind.
    pub fn alarm_name(&self, kind: AlarmKind) -> String {
        format!(
            "{ALARM_PREFIX}-{}-{}-{}",
            self.namespace,
            self.name,
            kind.suffix()
        )
    }
}

impl fmt::Display for GuardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The three alarms of a guard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlarmKind {
    FiveXxError,
    Latency,
    IntegrationLatency,
}

impl AlarmKind {
    pub const ALL: [AlarmKind; 3] = [
        AlarmKind::FiveXxError,
        AlarmKind::Latency,
        AlarmKind::IntegrationLatency,
    ];

    /// This alarm's settings in `alarms`, defaults filled in.
    pub fn settings(self, alarms: &AlarmsSpec) -> AlarmSettings {
        match self {
            AlarmKind::FiveXxError => alarms.five_xx_error(),
            AlarmKind::Latency => alarms.latency(),
            AlarmKind::IntegrationLatency => alarms.integration_latency(),
        }
    }

    /// The AWS/ApiGateway metric.
    pub fn metric(self) -> &'static str {
        match self {
            AlarmKind::FiveXxError => "5XXError",
            AlarmKind::Latency => "Latency",
            AlarmKind::IntegrationLatency => "IntegrationLatency",
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            AlarmKind::FiveXxError => "5xx",
            AlarmKind::Latency => "latency",
            AlarmKind::IntegrationLatency => "integration-latency",
        }
    }
}
