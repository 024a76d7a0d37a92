//! The deploy manifests agree with the code: the IAM policies allow exactly what the operator
//! calls (in its own account, and to reach others), and the RBAC rules cover what it asks of
//! the Kubernetes API.

use crate::support;

use std::collections::BTreeSet;
use std::path::Path;

use apigw_guard::core::model::iam_action;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every AWS operation the code makes, with the service it goes to (known by the file that
/// makes it: the v2 and Logs calls share some names with v1's and CloudWatch's): each SDK call
/// goes through `meter.call("Op", ..)`.
fn operations_in_code() -> BTreeSet<(&'static str, String)> {
    let mut operations = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("src/aws")).unwrap() {
        let path = entry.unwrap().path();
        let service = match path.file_stem().unwrap().to_str().unwrap() {
            "apigatewayv2" => "apigatewayv2",
            "logs" => "logs",
            _ => "",
        };
        let text = std::fs::read_to_string(&path).unwrap();
        for part in text.split(".call(\"").skip(1) {
            operations.insert((service, part.split('"').next().unwrap().to_owned()));
        }
    }
    operations
}

/// The IAM action one call needs: `iam_action` for the operation, which knows the Logs calls
/// whose names are CloudWatch's too by their `logs:` errors.
fn action_of(service: &str, operation: &str) -> String {
    match service {
        "logs" => format!("logs:{operation}"),
        _ => iam_action(operation),
    }
}

/// The resource one call of `operation` names (for a guard `ns/g` in us-east-1).
fn iam_resource(service: &str, operation: &str) -> &'static str {
    const ALARM: &str = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:apigw-guard-ns-g-5xx";
    const LOG_GROUP: &str =
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/apigateway/apigw-guard/h1/_default";
    match (service, operation) {
        ("apigatewayv2", "GetApis") => "arn:aws:apigateway:us-east-1::/apis",
        ("apigatewayv2", "GetApi") => "arn:aws:apigateway:us-east-1::/apis/h1",
        ("apigatewayv2", "GetStages") => "arn:aws:apigateway:us-east-1::/apis/h1/stages",
        ("apigatewayv2", "GetRoutes") => "arn:aws:apigateway:us-east-1::/apis/h1/routes",
        ("apigatewayv2", "GetIntegrations") => {
            "arn:aws:apigateway:us-east-1::/apis/h1/integrations"
        }
        ("apigatewayv2", "GetStage" | "UpdateStage") => {
            "arn:aws:apigateway:us-east-1::/apis/h1/stages/$default"
        }
        ("apigatewayv2", "GetDeployment") => {
            "arn:aws:apigateway:us-east-1::/apis/h1/deployments/d1"
        }
        ("apigatewayv2", "DeleteAccessLogSettings") => {
            "arn:aws:apigateway:us-east-1::/apis/h1/stages/$default/accesslogsettings"
        }
        ("logs", "DescribeLogGroups") => "arn:aws:logs:us-east-1:123456789012:log-group:*",
        (_, "FilterLogEvents") => {
            "arn:aws:logs:us-east-1:123456789012:log-group:API-Gateway-Execution-Logs_a1b2c3/prod:*"
        }
        ("logs", _) => LOG_GROUP,
        (_, "GetRestApis") => "arn:aws:apigateway:us-east-1::/restapis",
        (_, "GetRestApi") => "arn:aws:apigateway:us-east-1::/restapis/a1b2c3",
        (_, "GetStages") => "arn:aws:apigateway:us-east-1::/restapis/a1b2c3/stages",
        (_, "GetStage" | "UpdateStage") => {
            "arn:aws:apigateway:us-east-1::/restapis/a1b2c3/stages/prod"
        }
        (_, "GetDeployment") => "arn:aws:apigateway:us-east-1::/restapis/a1b2c3/deployments/d1",
        (_, "GetUsagePlans") => "arn:aws:apigateway:us-east-1::/usageplans",
        (_, "GetUsagePlan" | "UpdateUsagePlan") => "arn:aws:apigateway:us-east-1::/usageplans/up1",
        (_, "GetAccount") => "arn:aws:apigateway:us-east-1::/account",
        (_, "GetMetricData" | "ListDashboards") => "*",
        (_, "GetResources") => "arn:aws:apigateway:us-east-1::/restapis/a1b2c3/resources",
        (_, "GetFunction") => "arn:aws:lambda:us-east-1:123456789012:function:orders",
        (_, "GetDashboard" | "PutDashboard" | "DeleteDashboards") => {
            "arn:aws:cloudwatch::123456789012:dashboard/apigw-guard-ns-g"
        }
        (
            _,
            "DescribeAlarms"
            | "PutMetricAlarm"
            | "PutCompositeAlarm"
            | "DeleteAlarms"
            | "TagResource"
            | "ListTagsForResource",
        ) => ALARM,
        (service, other) => panic!(
            "{other} ({service}) is called by the code but has no IAM resource here: add it, and to deploy/iam-policy.json"
        ),
    }
}

/// `*` matches any run of characters, as IAM's wildcards do.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            text.starts_with(head)
                && (0..=text.len() - head.len()).any(|i| glob(tail, &text[head.len() + i..]))
        }
    }
}

fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn allowed(policy: &Value, action: &str, resource: &str) -> bool {
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .any(|statement| {
            statement["Effect"] == "Allow"
                && strings(&statement["Action"])
                    .iter()
                    .any(|a| glob(a, action))
                && strings(&statement["Resource"])
                    .iter()
                    .any(|r| glob(r, resource))
        })
}

fn policy() -> Value {
    read_policy("deploy/iam-policy.json")
}

fn read_policy(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(root().join(path)).unwrap()).unwrap()
}

/// STS GetCallerIdentity needs no permission: AWS answers it for any credentials.
const NEEDS_NO_GRANT: [&str; 1] = ["GetCallerIdentity"];
/// What only `apigw-guard diagnose` calls; the operator's role does not get them.
const DIAGNOSE_ONLY: [(&str, &str); 4] = [
    ("", "GetResources"),
    ("", "FilterLogEvents"),
    ("", "GetFunction"),
    ("apigatewayv2", "GetIntegrations"),
];
/// Diagnose-only reads the operator's policy grants anyway: its `apigateway:GET` on
/// `/restapis/*` and `/apis/*`, which GetRestApi and GetApi need, covers them too.
const COVERED_BY_OPERATORS_WILDCARDS: [&str; 2] = ["GetResources", "GetIntegrations"];
/// What diagnose reads besides those.
const DIAGNOSE_ALSO: [(&str, &str); 9] = [
    ("", "GetRestApis"),
    ("", "GetRestApi"),
    ("", "GetStage"),
    ("", "GetUsagePlans"),
    ("", "GetAccount"),
    ("", "GetMetricData"),
    ("apigatewayv2", "GetApis"),
    ("apigatewayv2", "GetApi"),
    ("apigatewayv2", "GetStage"),
];

#[test]
fn iam_policy_allows_every_aws_call_the_code_makes() {
    let operations = operations_in_code();
    assert_eq!(operations.len(), 39, "{operations:?}");
    let policy = policy();
    for (service, operation) in operations
        .iter()
        .filter(|(service, op)| !DIAGNOSE_ONLY.contains(&(*service, op.as_str())))
        .filter(|(_, op)| !NEEDS_NO_GRANT.contains(&op.as_str()))
    {
        let (action, resource) = (
            action_of(service, operation),
            iam_resource(service, operation),
        );
        assert!(
            allowed(&policy, &action, resource),
            "{operation} ({service}): {action} on {resource} is not allowed"
        );
    }
}

#[test]
fn diagnose_policy_allows_its_reads_and_no_write() {
    let diagnose = read_policy("deploy/iam-policy-diagnose.json");
    let operator = policy();
    for (service, operation) in DIAGNOSE_ONLY.iter().chain(&DIAGNOSE_ALSO) {
        let (action, resource) = (
            action_of(service, operation),
            iam_resource(service, operation),
        );
        assert!(
            allowed(&diagnose, &action, resource),
            "{operation} ({service}): {action} on {resource}"
        );
    }
    for (service, operation) in DIAGNOSE_ONLY {
        let (action, resource) = (
            action_of(service, operation),
            iam_resource(service, operation),
        );
        assert!(
            COVERED_BY_OPERATORS_WILDCARDS.contains(&operation)
                || !allowed(&operator, &action, resource),
            "the operator does not need {action}"
        );
    }
    for (service, operation) in [
        ("", "UpdateStage"),
        ("apigatewayv2", "UpdateStage"),
        ("", "UpdateUsagePlan"),
        ("", "PutMetricAlarm"),
        ("", "PutCompositeAlarm"),
        ("", "DeleteAlarms"),
        ("logs", "CreateLogGroup"),
        ("logs", "DeleteLogGroup"),
    ] {
        let (action, resource) = (
            action_of(service, operation),
            iam_resource(service, operation),
        );
        assert!(
            !allowed(&diagnose, &action, resource),
            "diagnose never writes: {action}"
        );
    }
}

#[test]
fn iam_policy_allows_nothing_more() {
    let policy = policy();
    let denied = [
        (
            "cloudwatch:PutMetricAlarm",
            "arn:aws:cloudwatch:us-east-1:123456789012:alarm:someone-elses",
        ),
        (
            "cloudwatch:PutCompositeAlarm",
            "arn:aws:cloudwatch:us-east-1:123456789012:alarm:someone-elses",
        ),
        (
            "cloudwatch:DeleteAlarms",
            "arn:aws:cloudwatch:us-east-1:123456789012:alarm:prod-5xx",
        ),
        (
            "apigateway:DELETE",
            "arn:aws:apigateway:us-east-1::/restapis/a1b2c3/stages/prod",
        ),
        ("apigateway:PATCH", "arn:aws:apigateway:us-east-1::/account"),
        ("apigateway:POST", "arn:aws:apigateway:us-east-1::/restapis"),
        (
            "apigateway:DELETE",
            "arn:aws:apigateway:us-east-1::/apis/h1/stages/$default",
        ),
        (
            "apigateway:DELETE",
            "arn:aws:apigateway:us-east-1::/apis/h1",
        ),
        ("cloudwatch:PutMetricData", "*"),
        // Log groups the operator did not name: never made, changed or deleted.
        (
            "logs:DeleteLogGroup",
            "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/orders",
        ),
        (
            "logs:PutRetentionPolicy",
            "arn:aws:logs:us-east-1:123456789012:log-group:API-Gateway-Execution-Logs_a1b2c3/prod",
        ),
    ];
    for (action, resource) in denied {
        assert!(
            !allowed(&policy, action, resource),
            "{action} on {resource} should not be allowed"
        );
    }
}

#[test]
fn rbac_lets_the_controller_watch_its_guards() {
    for verb in ["get", "list", "watch", "patch"] {
        assert!(
            support::rbac_allows("apigw-guard.dev", "apigatewayguards", verb),
            "{verb}"
        );
    }
    assert!(support::rbac_allows(
        "coordination.k8s.io",
        "leases",
        "patch"
    ));
    assert!(!support::rbac_allows("", "secrets", "get"));
    // Users own a guard's spec; the operator never replaces one wholesale.
    assert!(!support::rbac_allows(
        "apigw-guard.dev",
        "apigatewayguards",
        "update"
    ));
}

#[test]
fn rbac_lets_the_policy_controller_keep_its_guards_and_write_no_policy() {
    for verb in ["get", "list", "watch", "patch"] {
        assert!(
            support::rbac_allows("apigw-guard.dev", "apigatewayguardpolicies", verb),
            "apigatewayguardpolicies {verb}"
        );
    }
    for verb in ["get", "patch"] {
        assert!(
            support::rbac_allows("apigw-guard.dev", "apigatewayguardpolicies/status", verb),
            "apigatewayguardpolicies/status {verb}"
        );
    }
    // Its guards finalizer: a patch of the policy's metadata, and the finalizers subresource.
    assert!(support::rbac_allows(
        "apigw-guard.dev",
        "apigatewayguardpolicies/finalizers",
        "update"
    ));
    // A policy's guards: server-side applied (a PATCH that creates the guard when missing, so
    // `create` too) and deleted when their stage goes or the policy does.
    for verb in ["patch", "create", "delete"] {
        assert!(
            support::rbac_allows("apigw-guard.dev", "apigatewayguards", verb),
            "apigatewayguards {verb}"
        );
    }
    // Users own policies: the operator never makes, replaces or deletes one.
    for verb in ["create", "update", "delete", "deletecollection"] {
        assert!(
            !support::rbac_allows("apigw-guard.dev", "apigatewayguardpolicies", verb),
            "apigatewayguardpolicies {verb}"
        );
    }
    assert!(!support::rbac_allows(
        "apigw-guard.dev",
        "apigatewayguards",
        "deletecollection"
    ));
}

#[test]
fn rbac_lets_the_controller_read_accounts_and_namespaces_and_write_no_more() {
    for verb in ["get", "list", "watch"] {
        assert!(
            support::rbac_allows("apigw-guard.dev", "awsaccounts", verb),
            "awsaccounts {verb}"
        );
        assert!(
            support::rbac_allows("", "namespaces", verb),
            "namespaces {verb}"
        );
    }
    assert!(support::rbac_allows(
        "apigw-guard.dev",
        "awsaccounts/status",
        "patch"
    ));
    // Its in-use finalizer: a patch of the account's metadata, and the finalizers subresource.
    assert!(support::rbac_allows(
        "apigw-guard.dev",
        "awsaccounts",
        "patch"
    ));
    assert!(support::rbac_allows(
        "apigw-guard.dev",
        "awsaccounts/finalizers",
        "update"
    ));
    // The platform team owns AwsAccounts and namespaces: the operator reads them, reports an
    // account's status and holds its deletion while guards use it; it never makes, replaces
    // or deletes one, nor changes a namespace.
    for verb in ["create", "update", "delete", "deletecollection"] {
        assert!(
            !support::rbac_allows("apigw-guard.dev", "awsaccounts", verb),
            "awsaccounts {verb}"
        );
    }
    for verb in ["create", "update", "patch", "delete", "deletecollection"] {
        assert!(
            !support::rbac_allows("", "namespaces", verb),
            "namespaces {verb}"
        );
    }
}

#[test]
fn iam_policies_for_other_accounts_allow_assuming_their_roles_only() {
    // The operator's own policy when every guard names an AwsAccount: AssumeRole on the
    // accounts' roles, and nothing else (GetCallerIdentity needs no grant).
    let operator = read_policy("deploy/iam-policy-assume-role.json");
    let target = "arn:aws:iam::111122223333:role/apigw-guard";
    assert!(allowed(&operator, "sts:AssumeRole", target));
    for statement in operator["Statement"].as_array().unwrap() {
        assert_eq!(statement["Effect"], "Allow", "{statement}");
        assert_eq!(
            strings(&statement["Action"]),
            ["sts:AssumeRole"],
            "{statement}"
        );
        assert!(statement.get("NotAction").is_none() && statement.get("NotResource").is_none());
        for resource in strings(&statement["Resource"]) {
            assert!(
                resource.starts_with("arn:aws:iam::") && resource.contains(":role/"),
                "{resource}: name the roles, not *"
            );
        }
    }
    for (action, resource) in [
        ("apigateway:GET", "arn:aws:apigateway:us-east-1::/restapis"),
        ("cloudwatch:PutMetricAlarm", "*"),
        ("sts:AssumeRole", "arn:aws:iam::999999999999:role/admin"),
        ("iam:PassRole", target),
    ] {
        assert!(
            !allowed(&operator, action, resource),
            "{action} on {resource}"
        );
    }

    // The target role's trust policy: the operator's role may assume it, with the external id.
    let trust = read_policy("deploy/iam-trust-policy.json");
    let statements = trust["Statement"].as_array().unwrap();
    assert!(!statements.is_empty());
    for statement in statements {
        assert_eq!(statement["Effect"], "Allow", "{statement}");
        assert_eq!(
            strings(&statement["Action"]),
            ["sts:AssumeRole"],
            "{statement}"
        );
        let principals = strings(&statement["Principal"]["AWS"]);
        assert!(
            !principals.is_empty()
                && principals
                    .iter()
                    .all(|p| p.starts_with("arn:aws:iam::") && p.contains(":role/")),
            "the principal is the operator's role: {statement}"
        );
        let external_id = &statement["Condition"]["StringEquals"]["sts:ExternalId"];
        assert!(
            external_id.as_str().is_some_and(|id| !id.is_empty()),
            "an sts:ExternalId StringEquals condition: {statement}"
        );
    }
}

#[test]
fn events_policy_allows_reading_the_queue_only() {
    // The operator's SQS calls: ReceiveMessage and DeleteMessageBatch (IAM's sqs:DeleteMessage);
    // GetQueueAttributes to check the queue. Nothing else, and on the events queue only.
    const ACTIONS: [&str; 3] = [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    ];
    let policy = read_policy("deploy/iam-policy-events.json");
    let queue = "arn:aws:sqs:us-east-1:123456789012:apigw-guard-events";
    let mut granted = BTreeSet::new();
    for statement in policy["Statement"].as_array().unwrap() {
        assert_eq!(statement["Effect"], "Allow", "{statement}");
        assert!(statement.get("NotAction").is_none() && statement.get("NotResource").is_none());
        granted.extend(strings(&statement["Action"]));
        for resource in strings(&statement["Resource"]) {
            assert!(
                resource.starts_with("arn:aws:sqs:") && resource.ends_with(":apigw-guard-events"),
                "{resource}: name the queue, not *"
            );
        }
    }
    assert_eq!(granted, BTreeSet::from(ACTIONS));
    for action in ACTIONS {
        assert!(allowed(&policy, action, queue), "{action} on {queue}");
    }
    for (action, resource) in [
        ("sqs:SendMessage", queue),
        ("sqs:PurgeQueue", queue),
        ("sqs:DeleteQueue", queue),
        ("sqs:SetQueueAttributes", queue),
        (
            "sqs:ReceiveMessage",
            "arn:aws:sqs:us-east-1:123456789012:orders",
        ),
    ] {
        assert!(
            !allowed(&policy, action, resource),
            "{action} on {resource}"
        );
    }
    // The queue the CloudFormation template makes by default is the one the policy names.
    let template =
        std::fs::read_to_string(root().join("deploy/events/cloudtrail-to-sqs.yaml")).unwrap();
    assert!(template.contains("Default: apigw-guard-events"));
}

#[test]
fn glob_matches_like_iam() {
    assert!(glob(
        "arn:aws:apigateway:*::/restapis/*/stages/*",
        "arn:aws:apigateway:eu-west-1::/restapis/x/stages/prod"
    ));
    assert!(!glob(
        "arn:aws:apigateway:*::/restapis",
        "arn:aws:apigateway:eu-west-1::/restapis/x"
    ));
    assert!(glob("*", ""));
}
