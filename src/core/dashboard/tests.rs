use super::*;
use crate::core::fixtures;
use crate::core::model::ApiKind;

fn guard() -> GuardId {
    fixtures::guard_id("payments", "orders.prod")
}

fn spec(yaml: &str) -> ApiGatewayGuardSpec {
    serde_yaml::from_str(&format!(
        "restApi: {{name: orders-api}}\nstage: prod\n{yaml}"
    ))
    .unwrap()
}

fn api() -> GuardedApi {
    GuardedApi {
        kind: ApiKind::Rest,
        id: "a1b2c3".to_owned(),
        name: "orders-api".to_owned(),
        tags: Default::default(),
    }
}

fn widget<'a>(body: &'a Value, title: &str) -> &'a Value {
    body["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w.pointer("/properties/title").and_then(Value::as_str) == Some(title))
        .unwrap_or_else(|| panic!("no widget {title:?} in {body}"))
}

#[test]
fn the_body_shows_the_runbook_metrics_targets_and_alarms_of_the_stage() {
    let spec =
        spec("alarms: {latency: {enabled: false, threshold: 1000, statistic: p99}}\ndashboard: {}");
    let body = body(&guard(), &spec, &api(), "eu-west-1", "111122223333");

    let errors = widget(&body, "Requests and errors");
    assert_eq!(errors["properties"]["region"], "eu-west-1");
    let metrics = errors["properties"]["metrics"].as_array().unwrap();
    let names: Vec<&str> = metrics[..3]
        .iter()
        .map(|m| m[1].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Count", "4XXError", "5XXError"]);
    assert_eq!(
        metrics[0],
        json!(["AWS/ApiGateway", "Count", "ApiName", "orders-api", "Stage", "prod",
               {"id": "requests", "stat": "Sum", "label": "Requests"}])
    );
    assert_eq!(metrics[3][0]["expression"], "100 * fivexx / requests");

    let latency = widget(&body, "Latency (p50, p90, p99)");
    let stats: Vec<&str> = latency["properties"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m[6]["stat"].as_str().unwrap())
        .collect();
    assert_eq!(stats, ["p50", "p90", "p99"]);
    assert_eq!(
        latency["properties"]["annotations"]["horizontal"][0]["value"],
        1000.0
    );

    let integration = widget(&body, "IntegrationLatency (p99)");
    let lines: Vec<f64> = integration["properties"]["annotations"]["horizontal"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["value"].as_f64().unwrap())
        .collect();
    assert_eq!(lines, [500.0, 29_000.0]);

    // The latency alarm is off, so only the other two are shown, by ARN in the account.
    assert_eq!(
        widget(&body, "Alarms of this guard")["properties"]["alarms"],
        json!([
            "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:apigw-guard-payments_orders_prod_5xx",
            "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:apigw-guard-payments_orders_prod_integration-latency",
        ])
    );
    assert_eq!(
        owner(&body.to_string()),
        Some("payments/orders.prod".to_owned())
    );
}

#[test]
fn without_alarms_there_is_no_alarm_widget() {
    let body = body(&guard(), &spec("dashboard: {}"), &api(), "us-east-1", "1");
    let types: Vec<&str> = body["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["text", "metric", "metric", "metric"]);
}

#[test]
fn only_a_marked_body_has_an_owner() {
    assert_eq!(owner("not json"), None);
    assert_eq!(owner(r#"{"widgets": []}"#), None);
    let hand_made = json!({"widgets": [{"type": "text", "properties": {"markdown": "# ours"}}]});
    assert_eq!(owner(&hand_made.to_string()), None);
    let other = json!({"widgets": [{"type": "text", "properties": {
        "markdown": "kept for `team/other` (`apigw-guard.dev/owner=team/other`)"}}]});
    assert_eq!(owner(&other.to_string()), Some("team/other".to_owned()));
    // A marker outside a text widget does not count.
    let in_title = json!({"widgets": [{"type": "metric", "properties": {
        "title": "apigw-guard.dev/owner=team/other"}}]});
    assert_eq!(owner(&in_title.to_string()), None);
}

#[test]
fn meaning_not_formatting_decides_drift() {
    let want = body(&guard(), &spec("dashboard: {}"), &api(), "us-east-1", "1");
    let reformatted: Value =
        serde_json::from_str(&serde_json::to_string_pretty(&want).unwrap()).unwrap();
    assert!(same_meaning(&want, &reformatted));
    assert!(same_meaning(&json!({"a": 1000}), &json!({"a": 1000.0})));
    assert!(!same_meaning(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
    assert!(!same_meaning(&json!([1, 2]), &json!([2, 1])));

    let mut edited = want.clone();
    edited["widgets"][2]["properties"]["period"] = json!(300);
    edited["widgets"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "text"}));
    assert!(!same_meaning(&want, &edited));
    assert_eq!(
        differing_widgets(&want, &edited),
        ["Latency (p50, p90, p99)", "1 widget(s) added by hand"]
    );
    assert_eq!(differing_widgets(&want, &json!("x")), ["the whole body"]);
}

#[test]
fn links_are_region_correct_and_encoded() {
    let guarded = spec("alarms: {}\ndashboard: {}");
    let links = links(&guard(), &guarded, &api(), None, "eu-west-1");
    assert_eq!(
        links.dashboard.as_deref(),
        Some(
            "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1\
             #dashboards/dashboard/apigw-guard-payments_orders_prod"
        )
    );
    assert_eq!(
        links.stage,
        "https://eu-west-1.console.aws.amazon.com/apigateway/home?region=eu-west-1\
         #/apis/a1b2c3/stages/prod"
    );
    assert_eq!(
        links.execution_logs.as_deref(),
        Some(
            "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1\
             #logsV2:log-groups/log-group/API-Gateway-Execution-Logs_a1b2c3$252Fprod"
        )
    );
    // No access logs written: no link to them.
    assert_eq!(links.access_logs, None);
    assert_eq!(links.alarms.len(), 3);
    assert_eq!(links.alarms[0].name, "apigw-guard-payments_orders_prod_5xx");
    assert!(
        links.alarms[0]
            .url
            .ends_with("#alarmsV2:alarm/apigw-guard-payments_orders_prod_5xx")
    );

    let china = super::links(&guard(), &guarded, &api(), None, "cn-north-1");
    assert!(
        china
            .stage
            .starts_with("https://cn-north-1.console.amazonaws.cn/")
    );
    let gov = super::links(&guard(), &guarded, &api(), None, "us-gov-west-1");
    assert!(
        gov.stage
            .starts_with("https://console.amazonaws-us-gov.com/")
    );
    assert_eq!(
        alarm_arn("us-gov-west-1", "1", "a"),
        "arn:aws-us-gov:cloudwatch:us-gov-west-1:1:alarm:a"
    );

    let disabled = super::links(
        &guard(),
        &spec("dashboard: {enabled: false}"),
        &api(),
        None,
        "us-east-1",
    );
    assert_eq!(disabled.dashboard, None);
    assert!(
        disabled.alarms.is_empty(),
        "no alarms section, no alarm links"
    );
}

fn http_spec(yaml: &str) -> ApiGatewayGuardSpec {
    serde_yaml::from_str(&format!(
        "httpApi: {{name: orders-http}}\nstage: $default\n{yaml}"
    ))
    .unwrap()
}

fn http_api() -> GuardedApi {
    GuardedApi {
        kind: ApiKind::Http,
        id: "h7t9p2".to_owned(),
        name: "orders-http".to_owned(),
        tags: Default::default(),
    }
}

#[test]
fn an_http_api_body_uses_the_v2_metrics_by_api_id_and_its_30_s_timeout() {
    let spec = http_spec("alarms: {}\ndashboard: {}");
    let body = body(&guard(), &spec, &http_api(), "eu-west-1", "111122223333");

    let metrics = widget(&body, "Requests and errors")["properties"]["metrics"].clone();
    assert_eq!(
        metrics,
        json!([
            ["AWS/ApiGateway", "Count", "ApiId", "h7t9p2", "Stage", "$default",
             {"id": "requests", "stat": "Sum", "label": "Requests"}],
            ["AWS/ApiGateway", "4xx", "ApiId", "h7t9p2", "Stage", "$default",
             {"id": "fourxx", "stat": "Sum", "label": "4XX"}],
            ["AWS/ApiGateway", "5xx", "ApiId", "h7t9p2", "Stage", "$default",
             {"id": "fivexx", "stat": "Sum", "label": "5XX"}],
            [{"expression": "100 * fivexx / requests", "id": "share", "label": "5XX share (%)",
              "yAxis": "right"}],
        ])
    );
    for (title, name) in [
        ("Latency (p50, p90, p99)", "Latency"),
        ("IntegrationLatency (p99)", "IntegrationLatency"),
    ] {
        for metric in widget(&body, title)["properties"]["metrics"]
            .as_array()
            .unwrap()
        {
            assert_eq!(
                metric.as_array().unwrap()[1..6],
                [name, "ApiId", "h7t9p2", "Stage", "$default"]
            );
        }
    }
    let integration = &widget(&body, "IntegrationLatency (p99)")["properties"]["annotations"];
    assert_eq!(
        integration["horizontal"][1],
        json!({"label": "Integration timeout: 30 s, then 503", "value": 30_000.0})
    );
    let markdown = body["widgets"][0]["properties"]["markdown"]
        .as_str()
        .unwrap();
    assert!(
        markdown.starts_with("## orders-http/$default (HTTP API): API Gateway 5XX runbook"),
        "{markdown}"
    );
    assert!(
        markdown.contains("`apigw-guard diagnose --kind http --api orders-http --stage $default`"),
        "{markdown}"
    );
    assert_eq!(
        owner(&body.to_string()),
        Some("payments/orders.prod".to_owned())
    );
    assert_eq!(
        widget(&body, "Alarms of this guard")["properties"]["alarms"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn an_http_api_stage_links_to_the_new_console_and_its_access_logs() {
    let spec = http_spec("accessLogging: {}\ndashboard: {}");
    let kept = links(
        &guard(),
        &spec,
        &http_api(),
        Some("/aws/apigateway/apigw-guard/h7t9p2/_default"),
        "eu-west-1",
    );
    assert_eq!(
        kept.stage,
        "https://eu-west-1.console.aws.amazon.com/apigateway/main/api-detail?api=h7t9p2\
         &region=eu-west-1&stage=%24default"
    );
    // An HTTP API has no execution logs: its link is to the access logs.
    assert_eq!(kept.execution_logs, None);
    assert_eq!(
        kept.access_logs.as_deref(),
        Some(
            "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1\
             #logsV2:log-groups/log-group/$252Faws$252Fapigateway$252Fapigw-guard$252Fh7t9p2\
             $252F_default"
        )
    );
    // The stage's own destination wins; without one, the guard's default group.
    let elsewhere = links(&guard(), &spec, &http_api(), Some("team-logs"), "eu-west-1");
    assert!(
        elsewhere
            .access_logs
            .unwrap()
            .ends_with("/log-group/team-logs")
    );
    let none = links(&guard(), &spec, &http_api(), None, "eu-west-1");
    assert_eq!(none.access_logs, kept.access_logs);
    assert!(
        links(&guard(), &spec, &http_api(), None, "cn-north-1")
            .stage
            .starts_with("https://cn-north-1.console.amazonaws.cn/apigateway/main/api-detail?")
    );
}

#[test]
fn an_objective_adds_its_burn_rate_and_budget_row_and_its_composites_page() {
    let spec = spec("alarms: {}\ndashboard: {}\nslo: {availability: 99.9}");
    let body = body(&guard(), &spec, &api(), "eu-west-1", "111122223333");
    let widgets = body["widgets"].as_array().unwrap();
    assert_eq!(widgets.len(), 7);

    let burn = widget(&body, "Error budget burn rate");
    assert_eq!(
        (burn["x"].as_i64(), burn["y"].as_i64()),
        (Some(0), Some(15))
    );
    assert_eq!(burn["width"], 12);
    let properties = &burn["properties"];
    assert_eq!(properties["view"], "timeSeries");
    assert_eq!(properties["period"], 300);
    assert_eq!(
        properties["metrics"],
        json!([
            ["AWS/ApiGateway", "5XXError", "ApiName", "orders-api", "Stage", "prod",
             {"id": "errors", "stat": "Sum", "visible": false}],
            ["AWS/ApiGateway", "Count", "ApiName", "orders-api", "Stage", "prod",
             {"id": "requests", "stat": "Sum", "visible": false}],
            [{"expression": "(errors / requests) / 0.001", "id": "burn",
              "label": "Burn rate (1 = budget spent exactly over the window)"}],
        ])
    );
    assert_eq!(
        properties["annotations"]["horizontal"],
        json!([
            {"label": "Tier 1: 14.4x over 1h, confirmed over 5m", "value": 14.4},
            {"label": "Tier 2: 6x over 6h, confirmed over 30m", "value": 6.0},
            {"label": "Tier 3: 1x over 3d, confirmed over 6h", "value": 1.0},
        ])
    );

    let left = widget(&body, "Error budget left (30 d)");
    assert_eq!(
        (left["x"].as_i64(), left["y"].as_i64()),
        (Some(12), Some(15))
    );
    assert_eq!(left["width"], 12);
    let properties = &left["properties"];
    assert_eq!(properties["view"], "singleValue");
    assert_eq!(properties["setPeriodToTimeRange"], true);
    assert_eq!(properties["period"], 30 * 86_400);
    assert_eq!(properties["start"], "-P30D");
    assert_eq!(properties.get("end"), None, "a relative range ends now");
    let metrics = properties["metrics"].as_array().unwrap();
    assert_eq!(
        metrics[2],
        json!([{"expression": "100 * (1 - (errors / requests) / 0.001)", "id": "left",
                "label": "Budget left (%)"}])
    );
    // Metric ids: unique within each widget and valid (a lowercase letter first).
    for title in ["Error budget burn rate", "Error budget left (30 d)"] {
        let ids: Vec<&str> = widget(&body, title)["properties"]["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                m.as_array().unwrap().last().unwrap()["id"]
                    .as_str()
                    .unwrap()
            })
            .collect();
        let distinct: std::collections::HashSet<&&str> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len(), "{title}: {ids:?}");
        assert!(
            ids.iter()
                .all(|id| id.starts_with(|c: char| c.is_ascii_lowercase())),
            "{ids:?}"
        );
    }

    // The 5XX count alarm is replaced: the tiers' composites page instead.
    let arn = |name: &str| format!("arn:aws:cloudwatch:eu-west-1:111122223333:alarm:{name}");
    assert_eq!(
        widget(&body, "Alarms of this guard")["properties"]["alarms"],
        json!([
            arn("apigw-guard-payments_orders_prod_latency"),
            arn("apigw-guard-payments_orders_prod_integration-latency"),
            arn("apigw-guard-payments_orders_prod_slo1"),
            arn("apigw-guard-payments_orders_prod_slo2"),
            arn("apigw-guard-payments_orders_prod_slo3"),
        ])
    );
    let links = links(&guard(), &spec, &api(), None, "eu-west-1");
    let names: Vec<&str> = links.alarms.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "apigw-guard-payments_orders_prod_latency",
            "apigw-guard-payments_orders_prod_integration-latency",
            "apigw-guard-payments_orders_prod_slo1",
            "apigw-guard-payments_orders_prod_slo2",
            "apigw-guard-payments_orders_prod_slo3",
        ]
    );
    assert!(
        links.alarms[2]
            .url
            .ends_with("#alarmsV2:alarm/apigw-guard-payments_orders_prod_slo1")
    );
    assert!(same_meaning(&body, &body.clone()));
}

#[test]
fn an_objective_keeps_the_count_alarm_when_asked_and_states_its_own_budget_and_window() {
    let spec = spec(
        "alarms: {}\ndashboard: {}\nslo: {availability: 99.5, windowDays: 7, countAlarm: true, \
         tiers: [{burnRate: 10, longWindowMinutes: 120, shortWindowMinutes: 10}]}",
    );
    let body = body(&guard(), &spec, &api(), "eu-west-1", "1");
    let alarms: Vec<&str> = widget(&body, "Alarms of this guard")["properties"]["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().rsplit(':').next().unwrap())
        .collect();
    assert_eq!(
        alarms,
        [
            "apigw-guard-payments_orders_prod_5xx",
            "apigw-guard-payments_orders_prod_latency",
            "apigw-guard-payments_orders_prod_integration-latency",
            "apigw-guard-payments_orders_prod_slo1",
        ]
    );
    let burn = &widget(&body, "Error budget burn rate")["properties"];
    assert_eq!(
        burn["metrics"][2][0]["expression"],
        "(errors / requests) / 0.005"
    );
    assert_eq!(
        burn["annotations"]["horizontal"],
        json!([{"label": "Tier 1: 10x over 2h, confirmed over 10m", "value": 10.0}])
    );
    let left = &widget(&body, "Error budget left (7 d)")["properties"];
    assert_eq!(left["start"], "-P7D");
    assert_eq!(left["period"], 7 * 86_400);
    assert_eq!(
        left["metrics"][2][0]["expression"],
        "100 * (1 - (errors / requests) / 0.005)"
    );

    // Without an alarms section the composites still page, and are still shown.
    let only_slo = self::spec("dashboard: {}\nslo: {availability: 99.9}");
    assert_eq!(
        wanted_alarms(&guard(), &only_slo),
        [
            "apigw-guard-payments_orders_prod_slo1",
            "apigw-guard-payments_orders_prod_slo2",
            "apigw-guard-payments_orders_prod_slo3",
        ]
    );
}

#[test]
fn an_http_api_objective_divides_its_5xx_metric() {
    let spec = http_spec("dashboard: {}\nslo: {availability: 99.99}");
    let body = body(&guard(), &spec, &http_api(), "eu-west-1", "1");
    let metrics = widget(&body, "Error budget left (30 d)")["properties"]["metrics"].clone();
    assert_eq!(
        metrics[0],
        json!(["AWS/ApiGateway", "5xx", "ApiId", "h7t9p2", "Stage", "$default",
               {"id": "errors", "stat": "Sum", "visible": false}])
    );
    assert_eq!(
        metrics[2][0]["expression"],
        "100 * (1 - (errors / requests) / 0.0001)"
    );
}

#[test]
fn without_an_objective_the_body_and_alarms_are_as_before() {
    let spec = spec("alarms: {}\ndashboard: {}");
    let body = body(&guard(), &spec, &api(), "eu-west-1", "1");
    let titles: Vec<&str> = body["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w.pointer("/properties/title").and_then(Value::as_str))
        .collect();
    assert_eq!(
        titles,
        [
            "Requests and errors",
            "Latency (p50, p90, p99)",
            "IntegrationLatency (p99)",
            "Alarms of this guard",
        ]
    );
    assert_eq!(
        wanted_alarms(&guard(), &spec),
        [
            "apigw-guard-payments_orders_prod_5xx",
            "apigw-guard-payments_orders_prod_latency",
            "apigw-guard-payments_orders_prod_integration-latency",
        ]
    );
    // The objective's row comes after the widgets a guard without one has, unchanged.
    let with = self::spec("alarms: {fiveXXError: {enabled: false}}\ndashboard: {}");
    let objective = self::spec(
        "alarms: {fiveXXError: {enabled: false}}\ndashboard: {}\nslo: {availability: 99.9}",
    );
    let before = super::body(&guard(), &with, &api(), "eu-west-1", "1");
    let after = super::body(&guard(), &objective, &api(), "eu-west-1", "1");
    assert_eq!(
        differing_widgets(&after, &before),
        [
            "Alarms of this guard",
            "Error budget burn rate",
            "Error budget left (30 d)"
        ]
    );
}

/// A WebSocket API's dashboard: messages, client errors and the sum of its integration and
/// execution errors (each its own hidden line) by ApiId, new connections where the others show
/// Latency (which the kind does not publish), and its two alarms.
#[test]
fn a_websocket_api_body_uses_its_own_metrics_and_shows_connections_not_latency() {
    let spec: ApiGatewayGuardSpec = serde_yaml::from_str(
        "websocketApi: {name: orders-live}\nstage: prod\nalarms: {}\ndashboard: {}\n\
         slo: {availability: 99.9, countAlarm: true}",
    )
    .unwrap();
    let api = GuardedApi {
        kind: ApiKind::WebSocket,
        id: "w1".to_owned(),
        name: "orders-live".to_owned(),
        tags: Default::default(),
    };
    let body = body(&guard(), &spec, &api, "us-east-1", "111122223333");
    let traffic = widget(&body, "Messages and errors");
    let lines = traffic["properties"]["metrics"].as_array().unwrap();
    let named: Vec<String> = lines
        .iter()
        .map(|line| match line[0].as_str() {
            Some(_) => format!(
                "{} {} {}",
                line[1],
                line[3],
                line.as_array().unwrap().last().unwrap()["id"]
            ),
            None => format!("= {} as {}", line[0]["expression"], line[0]["id"]),
        })
        .collect();
    assert_eq!(
        named,
        [
            r#""MessageCount" "w1" "requests""#,
            r#""ClientError" "w1" "fourxx""#,
            r#""IntegrationError" "w1" "fivexx_0""#,
            r#""ExecutionError" "w1" "fivexx_1""#,
            r#"= "SUM([fivexx_0, fivexx_1])" as "fivexx""#,
            r#"= "100 * fivexx / requests" as "share""#,
        ]
    );
    assert!(!body.to_string().contains("\"Latency\""), "{body}");
    let connections = widget(&body, "Connections");
    assert_eq!(connections["properties"]["metrics"][0][1], "ConnectCount");
    // The objective divides the same sum by the messages.
    let burn = widget(&body, "Error budget burn rate");
    let text = burn["properties"]["metrics"].to_string();
    assert!(
        text.contains("SUM([errors_0, errors_1])") && text.contains("MessageCount"),
        "{text}"
    );
    let alarms = body["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["type"] == "alarm")
        .unwrap();
    assert_eq!(
        alarms["properties"]["alarms"].as_array().unwrap().len(),
        2 + 3
    );
}
