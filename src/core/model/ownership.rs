//! Which alarms a guard has and owns: their names and the ownership tags they carry.

use std::fmt;

use super::Tag;
use crate::core::crd::{AlarmSettings, AlarmsSpec, ApiGatewayGuard, ApiGatewayGuardSpec, ApiKind};

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
    /// The guard's id, for the controller and the CLI alike: a document without a namespace
    /// is in `default`, where kubectl would create it (the API server always gives one).
    pub fn of(guard: &ApiGatewayGuard) -> Self {
        GuardId {
            namespace: guard
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".to_owned()),
            name: guard.metadata.name.clone().unwrap_or_default(),
        }
    }

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

    /// The start of every name this guard has in AWS: `apigw-guard-<namespace>_<name>`, with
    /// the name's dots as `_`. A namespace holds neither `_` nor `.` and a name no `_`, so the
    /// first `_` ends the namespace: two guards never share a name (`team/x-y` and `team-x/y`
    /// did, when `-` joined them). Dashboard names take only letters, digits, `-` and `_`.
    fn base_name(&self) -> String {
        format!(
            "{ALARM_PREFIX}-{}_{}",
            self.namespace,
            self.name.replace('.', "_")
        )
    }

    /// The names this guard's alarms have, one per [`AlarmKind`], whether wanted or not.
    pub fn alarm_names(&self) -> Vec<String> {
        AlarmKind::ALL
            .iter()
            .map(|kind| self.alarm_name(*kind))
            .collect()
    }

    /// The names of this guard's alarms under the first naming
    /// (`apigw-guard-<namespace>-<name>-<suffix>`), which two guards could share: an alarm of
    /// such a name is this guard's only when its owner tag says so, and then it is renamed.
    pub fn legacy_alarm_names(&self) -> Vec<String> {
        AlarmKind::ALL
            .iter()
            .map(|kind| {
                format!(
                    "{ALARM_PREFIX}-{}-{}-{}",
                    self.namespace,
                    self.name,
                    kind.suffix()
                )
            })
            .collect()
    }

    /// Every alarm name this guard may have in AWS: today's, the first naming's and its
    /// objective's.
    pub fn known_alarm_names(&self) -> Vec<String> {
        let mut names = self.alarm_names();
        names.extend(self.legacy_alarm_names());
        names.extend(self.objective_alarm_names());
        names
    }

    /// The name of this guard's CloudWatch dashboard.
    pub fn dashboard_name(&self) -> String {
        self.base_name()
    }

    /// The dashboard's name under the first naming, renamed when its marker names this guard.
    pub fn legacy_dashboard_name(&self) -> String {
        format!("{ALARM_PREFIX}-{}-{}", self.namespace, self.name).replace('.', "_")
    }

    /// What marks a dashboard body as this guard's: dashboards take no tags.
    pub fn dashboard_marker(&self) -> String {
        format!("{OWNER_TAG}={}", self.owner())
    }

    /// The name of one of the alarms of an objective's tier (1 for the fastest burn):
    /// `<base>_slo<tier>` for its composite alarm, `<base>_slo<tier>-<part>` for the others.
    pub fn objective_alarm_name(&self, tier: usize, part: ObjectivePart) -> String {
        match part.suffix() {
            None => format!("{}_slo{tier}", self.base_name()),
            Some(suffix) => format!("{}_slo{tier}-{suffix}", self.base_name()),
        }
    }

    /// Every name an objective's alarms may have, wanted or not: the metric alarms of each
    /// tier, then the composites, fastest tier first.
    pub fn objective_alarm_names(&self) -> Vec<String> {
        let tiers = 1..=crate::core::crd::MAX_TIERS;
        let children = tiers.clone().flat_map(|tier| {
            ObjectivePart::CHILDREN.map(|part| self.objective_alarm_name(tier, part))
        });
        let composites =
            tiers.map(|tier| self.objective_alarm_name(tier, ObjectivePart::Composite));
        children.chain(composites).collect()
    }

    /// The name of this guard's alarm of one kind: `<base>_<suffix>`; no suffix holds `_`.
    pub fn alarm_name(&self, kind: AlarmKind) -> String {
        format!("{}_{}", self.base_name(), kind.suffix())
    }
}

impl fmt::Display for GuardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The alarms of one burn-rate tier of an objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectivePart {
    /// The error rate over the tier's long window.
    ErrorsLong,
    /// The error rate over its short window.
    ErrorsShort,
    /// Slow minutes over the long window (a latency objective).
    LatencyLong,
    /// Slow minutes over the short window.
    LatencyShort,
    /// The composite alarm over the others: what pages.
    Composite,
}

impl ObjectivePart {
    /// The metric alarms a composite names.
    pub const CHILDREN: [ObjectivePart; 4] = [
        ObjectivePart::ErrorsLong,
        ObjectivePart::ErrorsShort,
        ObjectivePart::LatencyLong,
        ObjectivePart::LatencyShort,
    ];

    fn suffix(self) -> Option<&'static str> {
        match self {
            ObjectivePart::ErrorsLong => Some("errors-long"),
            ObjectivePart::ErrorsShort => Some("errors-short"),
            ObjectivePart::LatencyLong => Some("latency-long"),
            ObjectivePart::LatencyShort => Some("latency-short"),
            ObjectivePart::Composite => None,
        }
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

    /// Whether the guard keeps this alarm: `spec.alarms` names it enabled, (for the 5XX count
    /// alarm) no objective replaces it, as `spec.slo` does unless `slo.countAlarm`, and the
    /// API's kind publishes its metric.
    pub fn is_kept(self, spec: &ApiGatewayGuardSpec) -> bool {
        let replaced = self == AlarmKind::FiveXxError
            && spec.controls.slo.as_ref().is_some_and(|s| !s.count_alarm);
        // A kind that publishes no metric for it has no such alarm.
        let published = spec
            .api()
            .is_none_or(|(kind, _)| !self.metrics(kind).is_empty());
        spec.controls
            .alarms
            .as_ref()
            .is_some_and(|alarms| self.settings(alarms).enabled)
            && !replaced
            && published
    }

    /// This alarm's settings in `alarms`, defaults filled in.
    pub fn settings(self, alarms: &AlarmsSpec) -> AlarmSettings {
        match self {
            AlarmKind::FiveXxError => alarms.five_xx_error(),
            AlarmKind::Latency => alarms.latency(),
            AlarmKind::IntegrationLatency => alarms.integration_latency(),
        }
    }

    /// The AWS/ApiGateway metrics this alarm watches on an API of `kind`, summed where more
    /// than one (a WebSocket API's errors); none where the kind publishes none (a WebSocket
    /// API's Latency), and then there is no such alarm.
    pub fn metrics(self, kind: ApiKind) -> &'static [&'static str] {
        let metrics = &kind.profile().metrics;
        match self {
            AlarmKind::FiveXxError => metrics.server_errors,
            AlarmKind::Latency => metrics.latency.as_slice(),
            AlarmKind::IntegrationLatency => &["IntegrationLatency"],
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The controller and the CLI name a guard alike: one without a namespace (a file's
    /// document) is in `default`, as kubectl would create it.
    #[test]
    fn a_guard_without_a_namespace_is_in_default_for_the_cli_and_the_controller() {
        let guard = |namespace: Option<&str>| {
            let mut guard = ApiGatewayGuard::new(
                "orders",
                serde_json::from_value(serde_json::json!({
                    "restApi": {"name": "orders-api"}, "stage": "prod"
                }))
                .unwrap(),
            );
            guard.metadata.namespace = namespace.map(str::to_owned);
            GuardId::of(&guard).owner()
        };
        assert_eq!(guard(None), "default/orders");
        assert_eq!(guard(Some("payments")), "payments/orders");
    }

    fn id(namespace: &str, name: &str) -> GuardId {
        GuardId {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    #[test]
    fn guards_whose_joined_names_read_alike_get_names_of_their_own() {
        let (a, b) = (id("team", "x-y"), id("team-x", "y"));
        assert_eq!(
            a.legacy_alarm_names(),
            b.legacy_alarm_names(),
            "the first naming"
        );
        assert_ne!(a.alarm_names(), b.alarm_names());
        assert_ne!(a.dashboard_name(), b.dashboard_name());
        assert_eq!(
            a.alarm_name(AlarmKind::FiveXxError),
            "apigw-guard-team_x-y_5xx"
        );
        // A guard's kinds never meet another guard's: `x-integration`'s latency alarm is not
        // `x`'s integration-latency alarm.
        let (x, xi) = (id("t", "x"), id("t", "x-integration"));
        assert_ne!(
            x.alarm_name(AlarmKind::IntegrationLatency),
            xi.alarm_name(AlarmKind::Latency)
        );
        assert_eq!(id("t", "a.b").dashboard_name(), "apigw-guard-t_a_b");
    }

    proptest! {
        /// Names are injective in (namespace, name, kind) over every namespace (an RFC 1123
        /// label) and guard name (an RFC 1123 subdomain), and dashboard names take only the
        /// characters CloudWatch allows.
        #[test]
        fn names_are_injective(
            ns1 in "[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?",
            ns2 in "[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?",
            n1 in "[a-z0-9]([a-z0-9.-]{0,6}[a-z0-9])?",
            n2 in "[a-z0-9]([a-z0-9.-]{0,6}[a-z0-9])?",
        ) {
            let (a, b) = (id(&ns1, &n1), id(&ns2, &n2));
            prop_assert!(a
                .dashboard_name()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
            let same = ns1 == ns2 && n1 == n2;
            prop_assert_eq!(a.dashboard_name() == b.dashboard_name(), same);
            for ka in AlarmKind::ALL {
                for kb in AlarmKind::ALL {
                    prop_assert_eq!(a.alarm_name(ka) == b.alarm_name(kb), same && ka == kb);
                }
            }
            prop_assert!(a.alarm_names().iter().all(|n| !a.legacy_alarm_names().contains(n)));
            // Today's names and the objective's (the first naming's may be shared).
            let named = |g: &GuardId| [g.alarm_names(), g.objective_alarm_names()].concat();
            let (known_a, known_b) = (named(&a), named(&b));
            let distinct: std::collections::HashSet<&String> = known_a.iter().collect();
            prop_assert_eq!(distinct.len(), known_a.len());
            prop_assert_eq!(known_a.iter().any(|n| known_b.contains(n)), same);
        }
    }
}
