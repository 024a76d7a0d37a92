//! The checked-in CRD is what the code generates, and a real API server would accept it.

use std::path::Path;

use serde_json::Value;

#[test]
fn checked_in_crds_match_the_code() {
    for (stem, generated) in apigw_guard::cli::crd_yamls().unwrap() {
        for dir in ["crds", "deploy/helm/apigw-guard/crds"] {
            let file = format!("{dir}/{stem}.yaml");
            let on_disk =
                std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(&file))
                    .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(
                generated == on_disk,
                "{file} is stale: regenerate it with `cargo run -- crdgen --dir {dir}`"
            );
        }
    }
}

/// Walks a schema node, collecting what makes a schema non-structural.
fn check(node: &Value, path: &str, problems: &mut Vec<String>) {
    let Some(object) = node.as_object() else {
        return problems.push(format!("{path}: not an object"));
    };
    for key in ["anyOf", "oneOf", "allOf", "not", "$ref"] {
        if object.contains_key(key) {
            problems.push(format!("{path}: uses {key}"));
        }
    }
    let preserves = object.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    match object.get("type").and_then(Value::as_str) {
        Some("object") => {
            for (name, child) in object
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                check(child, &format!("{path}.{name}"), problems);
            }
            if let Some(additional) = object.get("additionalProperties").filter(|a| a.is_object()) {
                check(additional, &format!("{path}.*"), problems);
            }
        }
        Some("array") => match object.get("items") {
            Some(items) => check(items, &format!("{path}[]"), problems),
            None => problems.push(format!("{path}: array without items")),
        },
        Some("string" | "integer" | "number" | "boolean") => {}
        Some(other) => problems.push(format!("{path}: unknown type {other}")),
        None if preserves => {}
        None => problems.push(format!("{path}: no type")),
    }
}

/// Every CEL rule in the schema as `path: rule`.
fn collect_rules(node: &Value, path: &str, rules: &mut Vec<String>) {
    for rule in node["x-kubernetes-validations"]
        .as_array()
        .into_iter()
        .flatten()
    {
        assert!(
            rule["message"].is_string(),
            "{path}: a rule without a message"
        );
        rules.push(format!("{path}: {}", rule["rule"].as_str().unwrap()));
    }
    for (name, child) in node["properties"].as_object().into_iter().flatten() {
        collect_rules(child, &format!("{path}.{name}"), rules);
    }
}

#[test]
fn crd_schema_is_structural_and_yaml11_safe() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds/apigatewayguard.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let crd: Value = serde_yaml::from_str(&text).unwrap();
    let version = &crd["spec"]["versions"][0];
    assert_eq!(crd["spec"]["group"], "apigw-guard.dev");
    assert_eq!(crd["spec"]["names"]["shortNames"][0], "agg");
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    assert_eq!(version["name"], "v1alpha1");
    assert!(version["subresources"]["status"].is_object());
    let mut problems = Vec::new();
    check(&version["schema"]["openAPIV3Schema"], "", &mut problems);
    assert_eq!(problems, Vec::<String>::new());
    let spec = &version["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let required: Vec<&str> = spec["required"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    // Exactly one of restApi and httpApi: a rule on the object, not the schema's `required`.
    assert_eq!(required, ["stage"]);
    // kubectl reads YAML 1.1, where a bare OFF is the boolean false.
    let levels = &spec["properties"]["executionLogging"]["properties"]["level"]["enum"];
    assert_eq!(levels, &serde_json::json!(["OFF", "ERROR", "INFO"]));
    assert!(text.contains("- 'OFF'"), "OFF must be quoted in the YAML");
    let mut rules = Vec::new();
    collect_rules(&version["schema"]["openAPIV3Schema"], "", &mut rules);
    rules.sort();
    rules.dedup();
    assert_eq!(
        rules,
        [
            // Only retentions CloudWatch Logs takes, and no null for the default.
            ".spec.accessLogging: has(self.enabled)",
            ".spec.accessLogging: has(self.retentionDays)",
            ".spec.accessLogging: self.retentionDays in [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]",
            ".spec.alarms.fiveXXError: !has(self.periodSeconds) || self.periodSeconds % 60 == 0",
            ".spec.alarms.fiveXXError: !has(self.threshold) || self.threshold >= 0.0",
            ".spec.alarms.fiveXXError: (has(self.periodSeconds) ? self.periodSeconds : 300) * (has(self.evaluationPeriods) ? self.evaluationPeriods : 1) <= ((has(self.periodSeconds) ? self.periodSeconds : 300) >= 3600 ? 604800 : 86400)",
            ".spec.alarms.integrationLatency: !has(self.periodSeconds) || self.periodSeconds % 60 == 0",
            ".spec.alarms.integrationLatency: !has(self.threshold) || self.threshold >= 0.0",
            ".spec.alarms.integrationLatency: (has(self.periodSeconds) ? self.periodSeconds : 300) * (has(self.evaluationPeriods) ? self.evaluationPeriods : 1) <= ((has(self.periodSeconds) ? self.periodSeconds : 300) >= 3600 ? 604800 : 86400)",
            ".spec.alarms.latency: !has(self.periodSeconds) || self.periodSeconds % 60 == 0",
            ".spec.alarms.latency: !has(self.threshold) || self.threshold >= 0.0",
            ".spec.alarms.latency: (has(self.periodSeconds) ? self.periodSeconds : 300) * (has(self.evaluationPeriods) ? self.evaluationPeriods : 1) <= ((has(self.periodSeconds) ? self.periodSeconds : 300) >= 3600 ? 604800 : 86400)",
            // A null where a default applies is refused, not silently defaulted.
            ".spec.alarms: has(self.actions)",
            ".spec.alarms: has(self.fiveXXError)",
            ".spec.alarms: has(self.integrationLatency)",
            ".spec.alarms: has(self.latency)",
            ".spec.alarms: has(self.okActions)",
            ".spec.dashboard: has(self.enabled)",
            // A verification window CloudWatch's minutes can judge, and no null for its default.
            ".spec.deployments: duration(self.verifyFor) >= duration('1m') && duration(self.verifyFor) <= duration('24h')",
            ".spec.deployments: has(self.verifyFor)",
            ".spec.executionLogging: has(self.dataTrace)",
            ".spec.executionLogging: has(self.detailedMetrics)",
            ".spec.httpApi: has(self.name) != has(self.id)",
            // A region in words when it is none, not a regex.
            ".spec.region: self.matches('^[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}$')",
            ".spec.restApi: has(self.name) != has(self.id)",
            // An objective's percentages and tiers that can fire; defaults not null.
            ".spec.slo.latency: self.objective > 0.0 && self.objective < 100.0",
            ".spec.slo.latency: self.thresholdMs > 0.0",
            ".spec.slo: !has(self.tiers) || self.tiers.all(t, double(t.burnRate) * (100.0 - double(self.availability)) < 100.0 && int(double(t.burnRate) * double(int((100.0 - double(self.availability)) * 1e10 + 0.5)) + 0.5) < 1000000000000)",
            ".spec.slo: has(self.countAlarm)",
            ".spec.slo: has(self.minRequests)",
            ".spec.slo: has(self.windowDays)",
            ".spec.slo: self.availability > 0.0 && self.availability < 100.0",
            ".spec.stageThrottle: !has(self.routes) || self.routes.all(k, !k.contains(' ') || k.matches('^(ANY|GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) /[^ ]*$'))",
            ".spec.stageThrottle: self.rateLimit > 0.0",
            ".spec.throttle.usagePlan: has(self.name) != has(self.id)",
            ".spec.throttle: self.rateLimit > 0.0",
            ".spec.tracing: has(self.enabled)",
            ".spec.websocketApi: has(self.name) != has(self.id)",
            ".spec: has(self.suspend)",
            // An account may be added, and changes no more once the guard acted through it.
            ": !has(oldSelf.spec.account) || (has(self.spec.account) && self.spec.account == oldSelf.spec.account) || !has(self.status) || !has(self.status.accountId)",
            // One API, of one kind, and only the controls AWS has for that kind.
            ": !has(self.spec.httpApi) || !has(self.spec.executionLogging)",
            // Route keys of the kind's shape (the stage throttle's own rule takes either).
            ": !has(self.spec.httpApi) || !has(self.spec.stageThrottle) || !has(self.spec.stageThrottle.routes) || self.spec.stageThrottle.routes.all(k, k.matches('^((ANY|GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) /[^ ]*|\\\\$default)$'))",
            ": !has(self.spec.httpApi) || !has(self.spec.throttle)",
            ": !has(self.spec.httpApi) || !has(self.spec.tracing)",
            ": !has(self.spec.restApi) || !has(self.spec.detailedMetrics)",
            ": !has(self.spec.restApi) || !has(self.spec.stageThrottle) || !has(self.spec.stageThrottle.routes)",
            // An objective replaces the 5XX count alarm unless asked to keep both.
            ": !has(self.spec.slo) || self.spec.slo.countAlarm || !has(self.spec.alarms) || !has(self.spec.alarms.fiveXXError) || !(has(self.spec.alarms.fiveXXError.threshold) || has(self.spec.alarms.fiveXXError.statistic) || has(self.spec.alarms.fiveXXError.periodSeconds) || has(self.spec.alarms.fiveXXError.evaluationPeriods) || (has(self.spec.alarms.fiveXXError.enabled) && self.spec.alarms.fiveXXError.enabled))",
            ": !has(self.spec.websocketApi) || !(has(self.spec.alarms) && has(self.spec.alarms.latency) && (has(self.spec.alarms.latency.threshold) || has(self.spec.alarms.latency.statistic) || has(self.spec.alarms.latency.periodSeconds) || has(self.spec.alarms.latency.evaluationPeriods) || (has(self.spec.alarms.latency.enabled) && self.spec.alarms.latency.enabled)))",
            ": !has(self.spec.websocketApi) || !(has(self.spec.executionLogging) && has(self.spec.executionLogging.detailedMetrics) && self.spec.executionLogging.detailedMetrics)",
            ": !has(self.spec.websocketApi) || !has(self.spec.slo) || !has(self.spec.slo.latency)",
            ": !has(self.spec.websocketApi) || !has(self.spec.stageThrottle) || !has(self.spec.stageThrottle.routes) || self.spec.stageThrottle.routes.all(k, k.matches('^(\\\\$connect|\\\\$disconnect|\\\\$default|[^$ ][^ ]*)$'))",
            ": !has(self.spec.websocketApi) || !has(self.spec.throttle)",
            ": !has(self.spec.websocketApi) || !has(self.spec.tracing)",
            // One API, of one kind: the kinds' profiles make this rule and the kinds' above.
            ": [has(self.spec.restApi), has(self.spec.httpApi), has(self.spec.websocketApi)].filter(named, named).size() == 1",
            // Owned alarm names carry the guard's name and stay within CloudWatch's 255.
            ": size(self.metadata.name) <= 128",
        ]
    );
    // Booleans with a default refuse null through their parent's rule (a null is kept, not
    // defaulted), not an enum of [true, false] that `kubectl explain` would show.
    let dashboard = &spec["properties"]["dashboard"]["properties"]["enabled"];
    assert_eq!(dashboard["nullable"], true);
    assert_eq!(dashboard.get("enum"), None);
    assert!(rules.contains(&".spec.dashboard: has(self.enabled)".to_owned()));
    let columns: Vec<&str> = version["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        columns,
        // Budget (% of the objective's error budget left) and Deployment (the newest
        // deployment's verdict) show with -o wide.
        [
            "API",
            "Kind",
            "Stage",
            "Ready",
            // Why not, without `describe`: NotFoundException, CloudWatchRoleMissing, Conflict.
            "Reason",
            "Verified",
            "Alarms",
            "Budget",
            "Deployment",
            "Age"
        ]
    );
}

/// The API server keeps a guard's stored status on every update of its spec, so its rules see
/// whether the guard acted through an AwsAccount (status.accountId).
#[test]
fn an_account_may_be_added_to_a_guard_but_not_changed_once_it_acted_through_it() {
    let (_, crd) = apigw_guard::core::crd::definitions()
        .into_iter()
        .find(|(stem, _)| *stem == "apigatewayguard")
        .unwrap();
    let schema = crd.spec.versions[0].schema.as_ref().unwrap();
    let schema = serde_json::to_value(schema.open_api_v3_schema.as_ref().unwrap()).unwrap();
    let guard = |account: Option<&str>, reached: Option<&str>| {
        let mut guard = serde_json::json!({
            "apiVersion": "apigw-guard.dev/v1alpha1",
            "kind": "ApiGatewayGuard",
            "metadata": {"name": "g", "namespace": "payments"},
            "spec": {"restApi": {"name": "orders-api"}, "stage": "prod"},
            "status": {"restApiId": "a1"},
        });
        if let Some(account) = account {
            guard["spec"]["account"] = account.into();
        }
        if let Some(reached) = reached {
            guard["status"]["accountId"] = reached.into();
        }
        guard
    };
    let update = |old: serde_json::Value, new: serde_json::Value| {
        kube::core::cel::Validator::new()
            .validate(&schema, &new, Some(&old))
            .map_err(|e| format!("{e:?}"))
    };
    // Added to a guard of the operator's own identity: the operator checks the account.
    assert_eq!(update(guard(None, None), guard(Some("acct"), None)), Ok(()));
    // Not acted through yet (refused, or not reconciled): may be taken back or changed.
    assert_eq!(update(guard(Some("acct"), None), guard(None, None)), Ok(()));
    assert_eq!(
        update(guard(Some("acct"), None), guard(Some("other"), None)),
        Ok(())
    );
    // Once the guard acted through it, what it made is in that account.
    let reached = Some("111122223333");
    for changed in [guard(Some("other"), reached), guard(None, reached)] {
        let refused = update(guard(Some("acct"), reached), changed).unwrap_err();
        assert!(refused.contains("account cannot change"), "{refused}");
        assert!(!refused.contains("old account"), "{refused}");
    }
    assert_eq!(
        update(guard(Some("acct"), reached), guard(Some("acct"), reached)),
        Ok(())
    );
}

/// Every `description` in the schema, with its path.
fn descriptions(node: &Value, path: &str, out: &mut Vec<(String, String)>) {
    if let Some(text) = node["description"].as_str() {
        out.push((path.to_owned(), text.to_owned()));
    }
    for (name, child) in node["properties"].as_object().into_iter().flatten() {
        descriptions(child, &format!("{path}.{name}"), out);
    }
    if node["items"].is_object() {
        descriptions(&node["items"], &format!("{path}[]"), out);
    }
}

#[test]
fn descriptions_read_as_sentences_and_every_alarm_field_names_its_default() {
    let crd: Value = serde_yaml::from_str(&apigw_guard::cli::crd_yamls().unwrap()[0].1).unwrap();
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let mut all = Vec::new();
    descriptions(schema, "", &mut all);
    assert!(all.len() > 50, "{} descriptions", all.len());
    for (path, text) in &all {
        // A line break is a paragraph break, never one inside a sentence.
        assert!(!text.replace("\n\n", "").contains('\n'), "{path}: {text:?}");
    }
    let alarm = &schema["properties"]["spec"]["properties"]["alarms"]["properties"]["latency"];
    assert_eq!(
        alarm["required"],
        Value::Null,
        "every alarm field is optional"
    );
    for field in [
        "enabled",
        "threshold",
        "statistic",
        "periodSeconds",
        "evaluationPeriods",
    ] {
        let text = alarm["properties"][field]["description"].as_str().unwrap();
        assert!(text.contains("Default"), "{field}: {text}");
    }
}

#[test]
fn account_crd_is_cluster_scoped_structural_and_shows_the_account_reached() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds/awsaccount.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let crd: Value = serde_yaml::from_str(&text).unwrap();
    let version = &crd["spec"]["versions"][0];
    assert_eq!(crd["spec"]["scope"], "Cluster");
    assert_eq!(crd["spec"]["names"]["kind"], "AwsAccount");
    assert!(version["subresources"]["status"].is_object());
    let mut problems = Vec::new();
    check(&version["schema"]["openAPIV3Schema"], "", &mut problems);
    assert_eq!(problems, Vec::<String>::new());
    let spec = &version["schema"]["openAPIV3Schema"]["properties"]["spec"];
    assert_eq!(
        spec["required"],
        serde_json::json!(["namespaceSelector", "roleArn"])
    );
    let mut rules = Vec::new();
    collect_rules(&version["schema"]["openAPIV3Schema"], "", &mut rules);
    assert_eq!(
        rules,
        [
            ".spec.namespaceSelector.matchLabels: self.all(key, !format.qualifiedName().validate(key).hasValue())",
            ".spec.restApis: size(self.tags) > 0"
        ]
    );
    let role = &spec["properties"]["roleArn"]["pattern"];
    assert!(
        role.as_str()
            .unwrap()
            .starts_with("^arn:(aws|aws-cn|aws-us-gov|"),
        "only real partitions: {role}"
    );
    // The selector rule sits on the items of matchExpressions, which collect_rules skips.
    assert!(text.contains("values must be given for In and NotIn, and only for them"));
    let columns: Vec<&str> = version["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(columns, ["Role", "Account", "Ready", "Age"]);
}

#[test]
fn policy_crd_is_namespaced_structural_and_counts_its_stages() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds/apigatewayguardpolicy.yaml");
    let crd: Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let version = &crd["spec"]["versions"][0];
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    assert_eq!(crd["spec"]["names"]["shortNames"][0], "aggp");
    assert!(version["subresources"]["status"].is_object());
    let mut problems = Vec::new();
    check(&version["schema"]["openAPIV3Schema"], "", &mut problems);
    assert_eq!(problems, Vec::<String>::new());
    let spec = &version["schema"]["openAPIV3Schema"]["properties"]["spec"];
    assert_eq!(
        spec["required"],
        serde_json::json!(["selector", "template"])
    );
    assert_eq!(
        spec["properties"]["selector"]["required"],
        serde_json::json!(["stages"])
    );
    assert_eq!(
        spec["properties"]["selector"]["properties"]["stages"]["minItems"],
        1
    );
    let mut rules = Vec::new();
    collect_rules(&version["schema"]["openAPIV3Schema"], "", &mut rules);
    assert!(
        rules
            .iter()
            .any(|r| r.starts_with(".spec: has(self.account) == has(oldSelf.account)")),
        "{rules:?}"
    );
    assert!(
        rules
            .iter()
            .any(|r| r.starts_with(".spec.template.stageThrottle:")),
        "the template keeps the guard's rules: {rules:?}"
    );
    // The policy's name is a label value on its guards.
    assert!(
        rules.contains(&": size(self.metadata.name) <= 63".to_owned()),
        "{rules:?}"
    );
    // A region is checked by a rule that says what is wrong in words, not by a bare pattern.
    assert_eq!(spec["properties"]["region"].get("pattern"), None);
    assert_eq!(
        spec["properties"]["region"]["x-kubernetes-validations"][0]["message"],
        apigw_guard::core::crd::REGION_MESSAGE
    );
    let columns: Vec<(&str, i64)> = version["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["priority"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        columns,
        [
            ("Matched", 0),
            ("Ready", 0),
            ("Skipped", 1),
            ("Conflicting", 1),
            ("Age", 0)
        ]
    );
}

/// Every `format` a node under `node` names, with where.
fn formats(node: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match node {
        Value::Object(object) => {
            for (key, value) in object {
                match (key.as_str(), value) {
                    ("format", Value::String(format)) => {
                        out.push((path.to_owned(), format.clone()))
                    }
                    _ => formats(value, &format!("{path}.{key}"), out),
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, item)| formats(item, &format!("{path}[{i}]"), out)),
        _ => {}
    }
}

/// The CRDs name only formats the API server knows: any other (schemars writes `uint32` for a
/// u32) makes every `kubectl apply` warn `unrecognized format`.
#[test]
fn the_crds_name_only_formats_the_api_server_knows() {
    // apiextensions-apiserver's supported formats (k8s.io/kube-openapi's strfmt registry).
    const KNOWN: &[&str] = &[
        "int32",
        "int64",
        "float",
        "double",
        "byte",
        "binary",
        "date",
        "date-time",
        "datetime",
        "duration",
        "password",
        "uri",
        "email",
        "hostname",
        "ipv4",
        "ipv6",
        "cidr",
        "mac",
        "uuid",
        "uuid3",
        "uuid4",
        "uuid5",
    ];
    for (stem, yaml) in apigw_guard::cli::crd_yamls().unwrap() {
        let crd: Value = serde_yaml::from_str(&yaml).unwrap();
        let mut found = Vec::new();
        formats(&crd, stem, &mut found);
        let unknown: Vec<_> = found
            .iter()
            .filter(|(_, format)| !KNOWN.contains(&format.as_str()))
            .collect();
        assert!(unknown.is_empty(), "{stem}: {unknown:?}");
    }
}
