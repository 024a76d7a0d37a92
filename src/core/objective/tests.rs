use super::*;
use crate::core::fixtures;
use crate::core::model::ApiKind;

fn guard() -> GuardId {
    fixtures::guard_id("payments", "orders")
}

fn api(kind: ApiKind) -> GuardedApi {
    GuardedApi {
        kind,
        id: "a1b2c3".to_owned(),
        name: "orders-api".to_owned(),
        ..Default::default()
    }
}

fn spec(yaml: &str) -> ApiGatewayGuardSpec {
    serde_yaml::from_str(yaml).unwrap()
}

fn math(alarm: &AlarmConfig) -> (&Threshold, &[MathQuery]) {
    let threshold = alarm.threshold().expect("a metric alarm");
    match &threshold.metric {
        AlarmMetric::Math(queries) => (threshold, queries),
        AlarmMetric::Stat(_) => panic!("{} is not metric math", alarm.name),
    }
}

fn stat(query: &MathQuery) -> &MetricStat {
    match &query.query {
        Query::Stat(stat) => stat,
        Query::Expression(_) => panic!("{} is an expression", query.id),
    }
}

const REST: &str = "restApi: {name: orders-api}\nstage: prod\n\
    alarms: {actions: ['arn:aws:sns:us-east-1:123456789012:oncall']}\n\
    slo: {availability: 99.9}\n";

#[test]
fn the_default_tiers_are_three_pairs_of_error_rate_alarms_and_a_composite_each() {
    let alarms = alarms(&guard(), &spec(REST), &api(ApiKind::Rest));
    let names: Vec<&str> = alarms.iter().map(|a| a.name.as_str()).collect();
    let base = "apigw-guard-payments_orders";
    assert_eq!(
        names,
        [
            format!("{base}_slo1-errors-long"),
            format!("{base}_slo1-errors-short"),
            format!("{base}_slo2-errors-long"),
            format!("{base}_slo2-errors-short"),
            format!("{base}_slo3-errors-long"),
            format!("{base}_slo3-errors-short"),
            // After what they name, fastest tier first.
            format!("{base}_slo1"),
            format!("{base}_slo2"),
            format!("{base}_slo3"),
        ]
    );
    // (threshold, period, floor) of each metric alarm: burn x budget over the window.
    let expected = [
        (0.0144, 3600, 100),
        (0.0144, 300, 1),
        (0.006, 21600, 100),
        (0.006, 1800, 1),
        (0.001, 259200, 100),
        (0.001, 21600, 1),
    ];
    for (alarm, (threshold, period, floor)) in alarms.iter().zip(expected) {
        let (rule, queries) = math(alarm);
        assert!((rule.threshold - threshold).abs() < 1e-12, "{}", alarm.name);
        assert_eq!(
            (
                rule.evaluation_periods,
                rule.datapoints_to_alarm,
                rule.comparison.as_str(),
                rule.treat_missing_data.as_str()
            ),
            (1, None, "GreaterThanThreshold", "notBreaching")
        );
        let ids: Vec<(&str, bool)> = queries
            .iter()
            .map(|q| (q.id.as_str(), q.return_data))
            .collect();
        assert_eq!(
            ids,
            [("errors", false), ("requests", false), ("rate", true)]
        );
        let (errors, requests) = (stat(&queries[0]), stat(&queries[1]));
        assert_eq!(
            (errors.metric_name.as_str(), errors.statistic.as_str()),
            ("5XXError", "Sum")
        );
        assert_eq!(
            (requests.metric_name.as_str(), requests.statistic.as_str()),
            ("Count", "Sum")
        );
        assert_eq!((errors.period, requests.period), (period, period));
        assert_eq!(
            errors.dimensions,
            [
                ("ApiName".to_owned(), "orders-api".to_owned()),
                ("Stage".to_owned(), "prod".to_owned())
            ]
        );
        assert_eq!(
            queries[2].query,
            Query::Expression(format!("IF(requests >= {floor}, errors / requests, 0)"))
        );
        // Only the composite pages.
        assert!(alarm.actions.is_empty() && alarm.ok_actions.is_empty());
        assert!(
            alarm.description.contains(&format!("{floor} request(s)")),
            "the floor is said: {}",
            alarm.description
        );
    }
    for (i, composite) in alarms[6..].iter().enumerate() {
        let tier = i + 1;
        let AlarmRule::Composite { rule, suppressor } = &composite.rule else {
            panic!("{} is not a composite", composite.name);
        };
        assert_eq!(
            rule,
            &format!(
                "(ALARM(\"{base}_slo{tier}-errors-long\") AND ALARM(\"{base}_slo{tier}-errors-short\"))"
            )
        );
        assert_eq!(
            composite.actions,
            ["arn:aws:sns:us-east-1:123456789012:oncall"],
            "spec.alarms.actions by default"
        );
        // Each tier waits on the one above it.
        let expected = (tier > 1).then(|| Suppressor {
            alarm: format!("{base}_slo{}", tier - 1),
            wait_period: SUPPRESSOR_WAIT,
            extension_period: SUPPRESSOR_EXTENSION,
        });
        assert_eq!(suppressor, &expected);
    }
}

#[test]
fn an_http_api_divides_its_5xx_by_count_by_api_id() {
    let yaml = "httpApi: {id: a1b2c3}\nstage: $default\nslo: {availability: 99.5}\n";
    let alarms = alarms(&guard(), &spec(yaml), &api(ApiKind::Http));
    let (rule, queries) = math(&alarms[0]);
    assert!((rule.threshold - 14.4 * 0.005).abs() < 1e-12);
    let errors = stat(&queries[0]);
    assert_eq!(errors.metric_name, "5xx");
    assert_eq!(
        errors.dimensions,
        [
            ("ApiId".to_owned(), "a1b2c3".to_owned()),
            ("Stage".to_owned(), "$default".to_owned())
        ]
    );
    // Without spec.alarms or slo.actions, a composite has no actions: it still shows state.
    assert!(alarms.iter().all(|a| a.actions.is_empty()));
}

#[test]
fn overrides_replace_the_tiers_the_floor_and_the_actions() {
    let yaml = "restApi: {id: a1b2c3}\nstage: prod\n\
        alarms: {actions: ['arn:aws:sns:us-east-1:1:default']}\n\
        slo:\n  availability: 99\n  minRequests: 20\n\
        \x20 actions: ['arn:aws:sns:us-east-1:1:pager']\n\
        \x20 okActions: ['arn:aws:sns:us-east-1:1:resolved']\n\
        \x20 tiers:\n\
        \x20 - {burnRate: 10, longWindowMinutes: 120, shortWindowMinutes: 10}\n\
        \x20 - {burnRate: 2, longWindowMinutes: 1440, shortWindowMinutes: 120, actions: ['arn:aws:sns:us-east-1:1:tickets']}\n";
    let alarms = alarms(&guard(), &spec(yaml), &api(ApiKind::Rest));
    assert_eq!(alarms.len(), 6, "two tiers: 4 metric alarms, 2 composites");
    let (rule, queries) = math(&alarms[0]);
    assert!((rule.threshold - 0.1).abs() < 1e-12);
    assert_eq!(stat(&queries[0]).period, 7200);
    assert_eq!(
        queries[2].query,
        Query::Expression("IF(requests >= 20, errors / requests, 0)".to_owned())
    );
    // The second tier's short window: 120 minutes.
    assert_eq!(stat(&math(&alarms[3]).1[0]).period, 7200);
    let (pager, tickets) = (&alarms[4], &alarms[5]);
    assert_eq!(pager.actions, ["arn:aws:sns:us-east-1:1:pager"]);
    assert_eq!(tickets.actions, ["arn:aws:sns:us-east-1:1:tickets"]);
    assert_eq!(tickets.ok_actions, ["arn:aws:sns:us-east-1:1:resolved"]);
}

#[test]
fn a_latency_objective_adds_slow_minute_alarms_to_each_composite() {
    let yaml = "restApi: {id: a1b2c3}\nstage: prod\n\
        slo: {availability: 99.9, latency: {thresholdMs: 800, objective: 99}}\n";
    let alarms = alarms(&guard(), &spec(yaml), &api(ApiKind::Rest));
    assert_eq!(alarms.len(), 15, "4 metric alarms and a composite per tier");
    let base = "apigw-guard-payments_orders";
    // (name, period, N, M): M = ceil(burn x 1 % x N); a 3-day window counts hours.
    let expected = [
        ("slo1-latency-long", 60, 60, 9),
        ("slo1-latency-short", 60, 5, 1),
        ("slo2-latency-long", 60, 360, 22),
        ("slo2-latency-short", 60, 30, 2),
        ("slo3-latency-long", 3600, 72, 1),
        ("slo3-latency-short", 60, 360, 4),
    ];
    for (suffix, period, n, m) in expected {
        let name = format!("{base}_{suffix}");
        let alarm = alarms.iter().find(|a| a.name == name).unwrap();
        let rule = alarm.threshold().unwrap();
        let AlarmMetric::Stat(metric) = &rule.metric else {
            panic!("{name} is not on one metric");
        };
        assert_eq!(
            (metric.metric_name.as_str(), metric.statistic.as_str()),
            ("Latency", "p99")
        );
        assert_eq!(
            (
                metric.period,
                rule.evaluation_periods,
                rule.datapoints_to_alarm
            ),
            (period, n, Some(m)),
            "{name}"
        );
        assert_eq!(rule.threshold, 800.0);
        // CloudWatch's limits: a day of periods under an hour, 7 days of longer ones.
        let span = metric.period * rule.evaluation_periods;
        assert!(span <= if period < 3600 { 86_400 } else { 604_800 });
    }
    let AlarmRule::Composite { rule, .. } = &alarms[12].rule else {
        panic!("not a composite");
    };
    assert_eq!(
        rule,
        &format!(
            "(ALARM(\"{base}_slo1-errors-long\") AND ALARM(\"{base}_slo1-errors-short\")) OR \
             (ALARM(\"{base}_slo1-latency-long\") AND ALARM(\"{base}_slo1-latency-short\"))"
        )
    );
}

#[test]
fn no_objective_no_alarms() {
    let yaml = "restApi: {id: a1b2c3}\nstage: prod\nalarms: {}\n";
    assert!(alarms(&guard(), &spec(yaml), &api(ApiKind::Rest)).is_empty());
}

#[test]
fn the_budget_left_is_what_the_window_did_not_spend() {
    let slo = spec(REST).controls.slo.unwrap();
    let metrics = |errors, requests, hour_errors, hour_requests| ObjectiveMetrics {
        window_days: 30,
        errors,
        requests,
        hour_errors,
        hour_requests,
    };
    // 500 errors of 1,000,000 requests is half of a 0.1 % budget; 30 of 10,000 in the hour
    // is 3x.
    let half = budget(
        &slo,
        &metrics(Some(500.0), Some(1e6), Some(30.0), Some(1e4)),
    );
    assert!((half.remaining_percent.unwrap() - 50.0).abs() < 1e-9);
    assert!((half.burn_last_hour.unwrap() - 3.0).abs() < 1e-9);
    // No errors reported with requests is the whole budget; overspent goes negative.
    let clean = budget(&slo, &metrics(None, Some(1e6), None, Some(10.0)));
    assert_eq!(
        (clean.remaining_percent, clean.burn_last_hour),
        (Some(100.0), Some(0.0))
    );
    let over = budget(&slo, &metrics(Some(3000.0), Some(1e6), None, None));
    assert!((over.remaining_percent.unwrap() + 200.0).abs() < 1e-9);
    // No traffic: nothing to say.
    let idle = budget(&slo, &metrics(Some(0.0), Some(0.0), None, None));
    assert_eq!((idle.remaining_percent, idle.burn_last_hour), (None, None));
}

#[test]
fn windows_and_rules_read_as_people_say_them() {
    assert_eq!(
        [5, 60, 90, 360, 1440, 4320].map(window),
        ["5m", "1h", "90m", "6h", "1d", "3d"]
    );
    let slo = spec(REST).controls.slo.unwrap();
    let rules: Vec<String> = slo.tiers().iter().map(rule_text).collect();
    assert_eq!(
        rules,
        [
            "14.4x over 1h, confirmed over 5m",
            "6x over 6h, confirmed over 30m",
            "1x over 3d, confirmed over 6h"
        ]
    );
    assert_eq!(
        describe(&slo),
        "99.9 % of requests without a 5XX over 30 days"
    );
}
