//! What the stage's setting controls share: where each kind keeps a setting, the routes a
//! spec may set, and the fields an UpdateStage must carry unchanged.

use std::collections::BTreeMap;

use crate::core::crd::{ApiGatewayGuardSpec, ThrottleLimits};
use crate::core::kind::StageSettingsShape;
use crate::core::model::{ApiKind, MethodSettings, Observed, PatchOp};
use crate::core::plan::{Blocker, Change, Control, number};

/// The settings of the groups a spec writes: the stage's defaults (`None`) and each route
/// the spec throttles (a route's own settings stand in for the defaults, detailed metrics
/// too), with what the stage has of each.
pub(super) fn groups<'a>(
    observed: &'a Observed,
    routes: &'a BTreeMap<String, ThrottleLimits>,
) -> impl Iterator<Item = (Option<&'a str>, &'a MethodSettings)> {
    static UNSET: MethodSettings = MethodSettings {
        logging_level: None,
        data_trace: None,
        metrics: None,
        rate_limit: None,
        burst_limit: None,
    };
    let stage = &observed.stage;
    std::iter::once((None, &stage.all_methods)).chain(
        routes
            .keys()
            .map(|key| (Some(key.as_str()), stage.routes.get(key).unwrap_or(&UNSET))),
    )
}

/// The route throttles of the spec whose route the API has. The others are reported as one
/// StageThrottle blocker, with the routes that exist, and left out of the UpdateStage: a
/// route key AWS does not know fails the whole call, and with it every other stage setting.
/// Not knowing the routes (the listing failed) leaves every route out until they are read.
pub(super) fn known_routes(
    spec: &ApiGatewayGuardSpec,
    observed: &Observed,
    blockers: &mut Vec<Blocker>,
) -> BTreeMap<String, ThrottleLimits> {
    let wanted = spec
        .controls
        .stage_throttle
        .as_ref()
        .and_then(|t| t.routes.clone())
        .unwrap_or_default();
    let keys = match &observed.route_keys {
        None => return wanted,
        Some(Ok(keys)) => keys,
        Some(Err(err)) => {
            blockers.push(Blocker {
                control: Control::StageThrottle,
                reason: err.code.clone(),
                message: format!(
                    "the API's routes could not be read (GetRoutes), so no route throttle was \
                     written; the stage's other settings were: {err}"
                ),
                retryable: err.retryable,
            });
            return BTreeMap::new();
        }
    };
    let (known, unknown): (BTreeMap<_, _>, BTreeMap<_, _>) =
        wanted.into_iter().partition(|(key, _)| keys.contains(key));
    if !unknown.is_empty() {
        let mut existing: Vec<&str> = keys.iter().map(String::as_str).collect();
        existing.sort_unstable();
        let names: Vec<&str> = unknown.keys().map(String::as_str).collect();
        blockers.push(Blocker {
            control: Control::StageThrottle,
            reason: "UnknownRoute".to_owned(),
            message: format!(
                "stageThrottle.routes names route(s) {} that API {} does not have (its routes: \
                 {}): their throttle is not written; the stage's other settings are",
                names.join(", "),
                observed.api.id,
                match existing.is_empty() {
                    true => "none".to_owned(),
                    false => existing.join(", "),
                }
            ),
            retryable: false,
        });
    }
    known
}

/// The fields a v2 API's UpdateStage must carry beside `changes` though they do not
/// change: AWS takes a route-settings object given in an UpdateStage as the whole of it, so
/// a field left out falls back to AWS's default (a throttle of 0, detailed metrics off). Each
/// group that `changes` writes gets its other known fields as they are.
pub(super) fn carried(kind: ApiKind, observed: &Observed, changes: &[Change]) -> Vec<PatchOp> {
    if kind.profile().stage_settings != StageSettingsShape::RouteSettings {
        return Vec::new();
    }
    let stage = &observed.stage;
    let groups = std::iter::once((None, &stage.all_methods)).chain(
        stage
            .routes
            .iter()
            .map(|(key, settings)| (Some(key.as_str()), settings)),
    );
    let mut carried = Vec::new();
    for (route, have) in groups {
        let paths = [
            Setting::LogLevel,
            Setting::DataTrace,
            Setting::Metrics,
            Setting::RateLimit,
            Setting::BurstLimit,
        ]
        .map(|setting| (setting, stage_path(kind, route, setting)));
        if !paths
            .iter()
            .any(|(_, path)| changes.iter().any(|c| &c.op.path == path))
        {
            continue;
        }
        for (setting, path) in paths {
            let value = match setting {
                Setting::LogLevel => have.logging_level.clone(),
                Setting::DataTrace => have.data_trace.map(|b| b.to_string()),
                Setting::Metrics => have.metrics.map(|b| b.to_string()),
                Setting::RateLimit => have.rate_limit.map(number),
                Setting::BurstLimit => have.burst_limit.map(|b| b.to_string()),
            };
            if let Some(value) = value
                && !changes.iter().any(|c| c.op.path == path)
            {
                carried.push(PatchOp {
                    path,
                    value,
                    remove: false,
                });
            }
        }
    }
    carried
}

/// A stage setting that differs only in where each kind of API keeps it.
#[derive(Clone, Copy)]
pub(super) enum Setting {
    LogLevel,
    DataTrace,
    Metrics,
    RateLimit,
    BurstLimit,
}

/// Where a setting lives: REST stages take JSON-patch paths over their method settings
/// (`*/*` is every method); an HTTP stage's UpdateStage takes fields of its default route
/// settings or of one route's, which `aws` reads back from these paths.
pub(super) fn stage_path(kind: ApiKind, route: Option<&str>, setting: Setting) -> String {
    match kind.profile().stage_settings {
        StageSettingsShape::MethodSettings => match setting {
            Setting::LogLevel => "/*/*/logging/loglevel",
            Setting::DataTrace => "/*/*/logging/dataTrace",
            Setting::Metrics => "/*/*/metrics/enabled",
            Setting::RateLimit => "/*/*/throttling/rateLimit",
            Setting::BurstLimit => "/*/*/throttling/burstLimit",
        }
        .to_owned(),
        StageSettingsShape::RouteSettings => {
            let field = match setting {
                Setting::LogLevel => "loggingLevel",
                Setting::DataTrace => "dataTraceEnabled",
                Setting::Metrics => "detailedMetricsEnabled",
                Setting::RateLimit => "throttlingRateLimit",
                Setting::BurstLimit => "throttlingBurstLimit",
            };
            match route {
                None => format!("/defaultRouteSettings/{field}"),
                Some(key) => format!("/routeSettings/{key}/{field}"),
            }
        }
    }
}
