//! What the API server checks in `metadata` itself, before any CRD schema: the name (an
//! RFC 1123 subdomain, as every custom resource's), the namespace (an RFC 1123 label), label
//! keys and values, annotation keys, and no fields ObjectMeta does not have.

use std::sync::LazyLock;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use regex::Regex;
use serde_json::Value;

use super::schema::Problem;

static DNS_SUBDOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$").unwrap()
});
static DNS_LABEL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").unwrap());
static NAME_PART: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$").unwrap());
static LABEL_VALUE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$").unwrap());

/// ObjectMeta's fields, as strict field validation knows them.
const FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// Every problem of the object's `metadata`, as the API server would say it on create.
pub fn problems(metadata: &Value, namespaced: bool) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut problem = |pointer: &str, message: String| {
        problems.push(Problem {
            pointer: pointer.to_owned(),
            message,
        })
    };
    let Some(fields) = metadata.as_object() else {
        problem(
            "/metadata",
            "required: an object with at least a name".to_owned(),
        );
        return problems;
    };
    for field in fields.keys().filter(|f| !FIELDS.contains(&f.as_str())) {
        problem(
            &format!("/metadata/{field}"),
            "unknown field: ObjectMeta has no such field".to_owned(),
        );
    }
    if let Err(e) = serde_json::from_value::<ObjectMeta>(metadata.clone()) {
        problem("/metadata", e.to_string());
        return problems;
    }
    match fields.get("name").and_then(Value::as_str) {
        None | Some("") => problem("/metadata/name", "required".to_owned()),
        Some(name) => {
            if let Some(why) = dns_subdomain(name) {
                problem("/metadata/name", why);
            }
        }
    }
    if let Some(namespace) = fields.get("namespace").and_then(Value::as_str)
        && namespaced
        && !namespace.is_empty()
        && (namespace.len() > 63 || !DNS_LABEL.is_match(namespace))
    {
        problem(
            "/metadata/namespace",
            format!(
                "{namespace:?} is not an RFC 1123 label: at most 63 lower-case letters, digits \
                 and '-', starting and ending with a letter or digit"
            ),
        );
    }
    for (key, value) in fields
        .get("labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        // The API server names the labels, and the key in its message.
        let pointer = "/metadata/labels";
        if let Some(why) = qualified_name(key) {
            problem(pointer, format!("key {key:?}: {why}"));
        }
        let value = value.as_str().unwrap_or_default();
        if value.len() > 63 || !LABEL_VALUE.is_match(value) {
            problem(
                pointer,
                format!(
                    "value {value:?} is not a label value: at most 63 letters, digits, '-', '_' \
                     and '.', starting and ending with a letter or digit"
                ),
            );
        }
    }
    for key in fields
        .get("annotations")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(key, _)| key)
    {
        if let Some(why) = qualified_name(&key.to_ascii_lowercase()) {
            problem("/metadata/annotations", format!("key {key:?}: {why}"));
        }
    }
    problems
}

/// Why `name` is not an RFC 1123 subdomain, if it is not.
fn dns_subdomain(name: &str) -> Option<String> {
    (name.len() > 253 || !DNS_SUBDOMAIN.is_match(name)).then(|| {
        format!(
            "{name:?} is not an RFC 1123 subdomain: at most 253 lower-case letters, digits, '-' \
             and '.', starting and ending with a letter or digit"
        )
    })
}

/// Why `key` is not a qualified name (a label key), if it is not: an optional DNS subdomain
/// prefix and '/', then at most 63 characters.
fn qualified_name(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix
        && (prefix.is_empty() || dns_subdomain(prefix).is_some())
    {
        return Some("its prefix must be an RFC 1123 subdomain".to_owned());
    }
    (name.is_empty() || name.len() > 63 || !NAME_PART.is_match(name)).then(|| {
        "must be at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter \
         or digit, after an optional prefix and '/'"
            .to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn said(metadata: Value) -> Vec<String> {
        problems(&metadata, true)
            .into_iter()
            .map(|p| format!("{}: {}", p.pointer, p.message))
            .collect()
    }

    #[test]
    fn names_namespaces_labels_and_annotations_as_the_api_server_checks_them() {
        assert_eq!(
            said(json!({"name": "a.b-c", "namespace": "team", "labels": {"x.io/y": "v"}})),
            Vec::<String>::new()
        );
        for bad in ["Orders", "orders_prod", "-a", "a.", &"a".repeat(254)] {
            let said = said(json!({"name": bad}));
            assert!(said[0].starts_with("/metadata/name: "), "{bad}: {said:?}");
        }
        assert!(said(json!({}))[0].starts_with("/metadata/name: required"));
        assert!(
            said(json!({"name": "a", "namespace": "a.b"}))[0].starts_with("/metadata/namespace")
        );
        assert!(said(json!({"name": "a", "labels": {"a/b/c": "v"}}))[0].contains("key \"a/b/c\""));
        assert!(said(json!({"name": "a", "labels": {"k": "a b"}}))[0].contains("value \"a b\""));
        assert!(said(json!({"name": "a", "annotations": {"/x": "v"}}))[0].contains("prefix"));
        assert!(said(json!({"name": "a", "nmae": "b"}))[0].starts_with("/metadata/nmae: unknown"));
        assert!(!said(json!({"name": "a", "labels": "x"})).is_empty());
    }
}
