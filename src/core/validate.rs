//! Checks the schema cannot express, run before any AWS call so a bad guard fails with the
//! field at fault instead of an AWS validation error halfway through.

use crate::core::crd::{self, AlarmSettings, AlarmSpec, ApiGatewayGuardSpec, ResourceRef};
use crate::core::kind;

/// API Gateway stage names are at most 128 characters.
const MAX_STAGE_NAME: usize = 128;
/// CloudWatch takes at most five actions per alarm state.
const MAX_ACTIONS: usize = 5;
const STATISTICS: &[&str] = &["SampleCount", "Average", "Sum", "Minimum", "Maximum"];

/// Every problem in `spec`, each as `field: what is wrong`. Empty when valid.
pub fn validate(spec: &ApiGatewayGuardSpec) -> Vec<String> {
    let mut errors = Vec::new();
    match spec.api() {
        Some((kind, by)) => one_of(
            &mut errors,
            &format!("spec.{}", kind.profile().spec_field),
            by,
        ),
        None => errors.push(kind::one_api()),
    }
    // What a kind of API named does not have (the CRD's CEL says the same).
    for kind in kind::KINDS
        .into_iter()
        .filter(|k| spec.api_ref(*k).is_some())
    {
        let refused = kind.profile().refused_in(&spec.controls);
        errors.extend(refused.map(|(_, message)| (*message).to_owned()));
    }
    if spec.stage.trim().is_empty() {
        errors.push("spec.stage: must not be empty".to_owned());
    } else if spec.stage.len() > MAX_STAGE_NAME {
        errors.push(format!(
            "spec.stage: at most {MAX_STAGE_NAME} characters (an API Gateway limit), got {}",
            spec.stage.len()
        ));
    }
    if let Some(throttle) = &spec.controls.throttle {
        one_of(&mut errors, "spec.throttle.usagePlan", &throttle.usage_plan);
        limits(
            &mut errors,
            "spec.throttle",
            throttle.rate_limit,
            throttle.burst_limit,
        );
    }
    if let Some(stage) = &spec.controls.stage_throttle {
        limits(
            &mut errors,
            "spec.stageThrottle",
            stage.rate_limit,
            stage.burst_limit,
        );
        let kind = spec.api().map(|(kind, _)| kind.profile());
        for (key, route) in stage.routes.iter().flatten() {
            let field = format!("spec.stageThrottle.routes[{key:?}]");
            if let Some((_, message)) = kind.and_then(|k| k.route_keys)
                && kind.is_some_and(|k| !k.is_route_key(key))
            {
                let shape = message.trim_start_matches("spec.stageThrottle.routes: ");
                errors.push(format!("{field}: not a route key; {shape}"));
            }
            limits(&mut errors, &field, route.rate_limit, route.burst_limit);
        }
    }
    if let Some(logging) = &spec.controls.access_logging
        && !crate::core::crd::RETENTION_DAYS.contains(&logging.retention_days)
    {
        errors.push(format!(
            "spec.accessLogging.retentionDays: {} is not a retention CloudWatch Logs accepts \
             ({:?})",
            logging.retention_days,
            crate::core::crd::RETENTION_DAYS
        ));
    }
    if let Some(slo) = &spec.controls.slo {
        objective(&mut errors, spec, slo);
    }
    if let Some(deployments) = &spec.controls.deployments
        && !deployments
            .verify_for_seconds()
            .is_some_and(|s| (60..=86_400).contains(&s))
    {
        errors.push(format!(
            "spec.deployments.verifyFor: from 1m to 24h, e.g. 30m, got {:?}",
            deployments.verify_for
        ));
    }
    if let Some(alarms) = &spec.controls.alarms {
        for (field, list) in [
            ("actions", &alarms.actions),
            ("okActions", &alarms.ok_actions),
        ] {
            if list.len() > MAX_ACTIONS {
                errors.push(format!(
                    "spec.alarms.{field}: at most {MAX_ACTIONS} ARNs (a CloudWatch limit), got {}",
                    list.len()
                ));
            }
        }
        for (i, arn) in alarms.actions.iter().enumerate() {
            arn_check(&mut errors, &format!("spec.alarms.actions[{i}]"), arn);
        }
        for (i, arn) in alarms.ok_actions.iter().enumerate() {
            arn_check(&mut errors, &format!("spec.alarms.okActions[{i}]"), arn);
        }
        for (field, settings) in [
            ("spec.alarms.fiveXXError", alarms.five_xx_error()),
            ("spec.alarms.latency", alarms.latency()),
            (
                "spec.alarms.integrationLatency",
                alarms.integration_latency(),
            ),
        ] {
            alarm(&mut errors, field, &settings);
        }
    }
    errors
}

/// `spec.slo`, as the CRD's schema and CEL rules check it.
fn objective(errors: &mut Vec<String>, spec: &ApiGatewayGuardSpec, slo: &crd::ObjectiveSpec) {
    let percent = |value: f64| value > 0.0 && value < 100.0;
    if !percent(slo.availability) {
        errors.push(crd::SLO_AVAILABILITY.to_owned());
    }
    if !(1..=90).contains(&slo.window_days) {
        errors.push(format!(
            "spec.slo.windowDays: 1 to 90 days, got {}",
            slo.window_days
        ));
    }
    if slo.min_requests < 1 {
        errors.push(format!(
            "spec.slo.minRequests: 1 or more, got {}",
            slo.min_requests
        ));
    }
    if let Some(latency) = &slo.latency {
        if latency.threshold_ms.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            errors.push("spec.slo.latency.thresholdMs must be greater than 0".to_owned());
        }
        if !percent(latency.objective) {
            errors.push(crd::SLO_LATENCY_OBJECTIVE.to_owned());
        }
    }
    let lists = [
        ("spec.slo.actions".to_owned(), slo.actions.as_ref()),
        ("spec.slo.okActions".to_owned(), slo.ok_actions.as_ref()),
    ];
    let tiers = slo.tiers.as_deref().unwrap_or_default();
    let tier_lists = tiers.iter().enumerate().map(|(i, tier)| {
        (
            format!("spec.slo.tiers[{i}].actions"),
            tier.actions.as_ref(),
        )
    });
    for (field, list) in lists.into_iter().chain(tier_lists) {
        let list = list.map(Vec::as_slice).unwrap_or_default();
        if list.len() > MAX_ACTIONS {
            errors.push(format!(
                "{field}: at most {MAX_ACTIONS} ARNs (a CloudWatch limit), got {}",
                list.len()
            ));
        }
        for (i, arn) in list.iter().enumerate() {
            arn_check(errors, &format!("{field}[{i}]"), arn);
        }
    }
    if slo.tiers.is_some() && !(1..=crd::MAX_TIERS).contains(&tiers.len()) {
        errors.push(format!(
            "spec.slo.tiers: 1 to {} tiers, got {}",
            crd::MAX_TIERS,
            tiers.len()
        ));
    }
    for (i, tier) in tiers.iter().enumerate() {
        let field = format!("spec.slo.tiers[{i}]");
        if tier.burn_rate.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            errors.push("spec.slo.tiers: burnRate must be greater than 0".to_owned());
        } else if tier.burn_rate * (100.0 - slo.availability) >= 100.0
            || slo.threshold(tier.burn_rate) >= 1.0
        {
            errors.push(crd::SLO_UNREACHABLE.to_owned());
        }
        let (long, short) = (tier.long_window_minutes, tier.short_window_minutes);
        if !(2..=10080).contains(&long) || !(1..=10079).contains(&short) {
            errors.push(format!(
                "{field}: longWindowMinutes is 2 to 10080 (7 days, CloudWatch's longest alarm \
                 window) and shortWindowMinutes 1 to 10079, got {long} and {short}"
            ));
        }
        if short >= long {
            errors.push(crd::SLO_WINDOWS.to_owned());
        }
        if [long, short].iter().any(|m| *m > 1440 && m % 60 != 0) {
            errors.push(crd::SLO_LONG_WINDOWS.to_owned());
        }
    }
    let five = spec.controls.alarms.as_ref().map(|a| &a.five_xx_error);
    let hand_set = five.is_some_and(AlarmSpec::asks);
    if hand_set && !slo.count_alarm {
        errors.push(crd::SLO_COUNT_ALARM.to_owned());
    }
}

fn one_of(errors: &mut Vec<String>, field: &str, by: &ResourceRef) {
    let given = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
    if given(&by.name) == given(&by.id) {
        errors.push(format!("{field}: give exactly one of name or id"));
    }
    if by.name.as_ref().is_some_and(|n| n.len() > 1024)
        || by.id.as_ref().is_some_and(|i| i.len() > 128)
    {
        errors.push(format!(
            "{field}: a name is at most 1024 characters and an id at most 128"
        ));
    }
}

/// CloudWatch alarm names are at most 255 characters; the guard's namespace and name go into
/// them, so a long pair would make AWS refuse every alarm.
pub fn validate_alarm_names(guard: &crate::core::model::GuardId) -> Vec<String> {
    guard
        .alarm_names()
        .into_iter()
        .filter(|name| name.len() > 255)
        .map(|name| {
            format!(
                "metadata.name: the alarm name {name:?} would be {} characters, over CloudWatch's 255; \
                 use a shorter guard name or namespace",
                name.len()
            )
        })
        .take(1)
        .collect()
}

fn limits(errors: &mut Vec<String>, field: &str, rate: f64, burst: i32) {
    if !(rate.is_finite() && rate > 0.0) {
        errors.push(format!(
            "{field}.rateLimit: must be greater than 0, got {rate}"
        ));
    }
    if burst < 0 {
        errors.push(format!(
            "{field}.burstLimit: must be 0 or more, got {burst}"
        ));
    }
}

fn arn_check(errors: &mut Vec<String>, field: &str, arn: &str) {
    if !arn.starts_with("arn:") || arn.split(':').count() < 6 {
        errors.push(format!(
            "{field}: {arn:?} is not an ARN (arn:partition:service:region:account:resource)"
        ));
    }
}

fn alarm(errors: &mut Vec<String>, field: &str, alarm: &AlarmSettings) {
    if !(alarm.threshold.is_finite() && alarm.threshold >= 0.0) {
        errors.push(format!(
            "{field}.threshold: must be 0 or more, got {}",
            alarm.threshold
        ));
    }
    let period = alarm.period_seconds;
    if !(period > 0 && period % 60 == 0) {
        errors.push(format!("{field}: {}, got {period}", crd::ALARM_PERIOD));
    }
    let span = i64::from(period) * i64::from(alarm.evaluation_periods);
    let longest = match period >= 3600 {
        true => 604_800,
        false => 86_400,
    };
    if alarm.evaluation_periods < 1 {
        errors.push(format!(
            "{field}.evaluationPeriods: must be 1 or more, got {}",
            alarm.evaluation_periods
        ));
    } else if span > longest {
        errors.push(format!("{field}: {}, got {span}", crd::ALARM_SPAN));
    }
    if !STATISTICS.contains(&alarm.statistic.as_str()) && !is_percentile(&alarm.statistic) {
        errors.push(format!(
            "{field}.statistic: {:?} is neither one of {} nor a percentile such as p99",
            alarm.statistic,
            STATISTICS.join(", ")
        ));
    }
}

/// `p0`..`p100` with up to two decimals, as CloudWatch's ExtendedStatistic takes them.
fn is_percentile(statistic: &str) -> bool {
    let Some(number) = statistic.strip_prefix('p') else {
        return false;
    };
    let decimals = number.split_once('.').map_or(0, |(_, d)| d.len());
    !number.starts_with('.')
        && decimals <= 2
        && number
            .parse::<f64>()
            .is_ok_and(|p| (0.0..=100.0).contains(&p))
        && number.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// What is wrong with a role ARN (`arn:PARTITION:iam::ACCOUNT:role/NAME`), as the AwsAccount
/// CRD's pattern would refuse it.
pub fn role_arn_problem(arn: &str) -> Option<String> {
    static PATTERN: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        // ASCII classes, as the API server's regular expressions (RE2) have them.
        regex::RegexBuilder::new(crate::core::crd::ROLE_ARN_PATTERN)
            .unicode(false)
            .build()
            .expect("the CRD's pattern compiles")
    });
    (!PATTERN.is_match(arn)).then(|| {
        format!("spec.roleArn: {arn:?} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_are_checked_by_the_crds_pattern() {
        assert_eq!(
            role_arn_problem("arn:aws-cn:iam::111122223333:role/path/name"),
            None
        );
        for bad in [
            "arn:aws:iam::1:role/x",
            "arn:aws-mars:iam::111122223333:role/x",
            "arn:aws:iam::111122223333:role/a b",
            "arn:aws:iam::111122223333:user/x",
        ] {
            assert!(role_arn_problem(bad).is_some(), "{bad}");
        }
    }

    fn spec(yaml: &str) -> ApiGatewayGuardSpec {
        serde_yaml::from_str(yaml).expect("test spec parses")
    }

    #[test]
    fn a_full_valid_spec_has_no_errors() {
        let errors = validate(&spec(
            "restApi: {name: orders}\nstage: prod\nthrottle: {usagePlan: {id: x}, rateLimit: 10.5, burstLimit: 0}\n\
             alarms: {actions: ['arn:aws:sns:us-east-1:123456789012:oncall'], latency: {threshold: 900, statistic: p99.5, periodSeconds: 60, evaluationPeriods: 1440}, integrationLatency: {periodSeconds: 3600, evaluationPeriods: 168}}",
        ));
        assert_eq!(errors, Vec::<String>::new());
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            ("restApi: {}\nstage: prod", "spec.restApi: give exactly one"),
            (
                "restApi: {name: a, id: b}\nstage: prod",
                "spec.restApi: give exactly one",
            ),
            (
                "restApi: {name: a}\nstage: ' '",
                "spec.stage: must not be empty",
            ),
            (
                "restApi: {name: a}\nstage: s\nstageThrottle: {rateLimit: 0, burstLimit: 1}",
                "spec.stageThrottle.rateLimit: must be greater than 0",
            ),
            (
                "restApi: {name: a}\nstage: s\nthrottle: {usagePlan: {name: p}, rateLimit: 1, burstLimit: -1}",
                "spec.throttle.burstLimit: must be 0 or more",
            ),
            (
                "restApi: {name: a}\nstage: s\nalarms: {actions: [oncall]}",
                "spec.alarms.actions[0]: \"oncall\" is not an ARN",
            ),
            (
                "restApi: {name: a}\nstage: s\nalarms: {fiveXXError: {threshold: 1, statistic: Sum, periodSeconds: 45}}",
                "spec.alarms.fiveXXError: periodSeconds must be a multiple of 60",
            ),
            (
                "restApi: {name: a}\nstage: s\nalarms: {fiveXXError: {threshold: 1, statistic: Sum, periodSeconds: 20}}",
                "spec.alarms.fiveXXError: periodSeconds must be a multiple of 60: API Gateway publishes its metrics once a minute",
            ),
            (
                "restApi: {name: a}\nstage: s\nalarms: {latency: {threshold: 1, statistic: p99, periodSeconds: 1800, evaluationPeriods: 49}}",
                "spec.alarms.latency: periodSeconds x evaluationPeriods must be at most 86400 (one day)",
            ),
            (
                "restApi: {name: a}\nstage: s\nalarms: {latency: {threshold: 1, statistic: p99, periodSeconds: 3600, evaluationPeriods: 169}}",
                "spec.alarms.latency: periodSeconds x evaluationPeriods must be at most 86400 (one day), or 604800 (7 days)",
            ),
            (
                "restApi: {name: a}\nstage: s\nalarms: {latency: {threshold: -1, statistic: p99}}",
                "spec.alarms.latency.threshold: must be 0 or more",
            ),
            (
                "restApi: {name: a}\nstage: s\nalarms: {latency: {threshold: 1, statistic: p101}}",
                "spec.alarms.latency.statistic: \"p101\" is neither",
            ),
            (
                "restApi: {name: a}\nstage: s\nalarms: {latency: {threshold: 1, statistic: Median}}",
                "spec.alarms.latency.statistic: \"Median\" is neither",
            ),
        ];
        for (yaml, expected) in cases {
            let errors = validate(&spec(yaml));
            assert_eq!(errors.len(), 1, "{yaml}: {errors:?}");
            assert!(errors[0].starts_with(expected), "{yaml}: {errors:?}");
        }
    }
}
