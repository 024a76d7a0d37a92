//! A document checked as the API server checks it on create, against the very CRDs `crdgen`
//! writes to `crds/`: the openAPIV3Schema as JSON Schema (types, required fields, enums,
//! lengths, patterns, int32 ranges, and unknown fields refused as kubectl's strict field
//! validation refuses them), after the API server's null pruning; then, on the defaulted
//! object, the CRD's CEL rules (kube-cel). What the schema says is said once, in the Rust types.

use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use kube::core::cel::{RootContext, Validator, apply_defaults};
use serde_json::{Map, Value, json};

/// One thing the API server would refuse: the field (a JSON pointer) and why.
#[derive(Debug, PartialEq)]
pub struct Problem {
    pub pointer: String,
    pub message: String,
}

struct Kind {
    kind: String,
    group: String,
    version: String,
    namespaced: bool,
    /// The CRD's openAPIV3Schema, as the API server has it.
    openapi: Value,
    /// The same without defaults, for kube-cel: the object it gets is defaulted already (a
    /// null kept, as the API server keeps it, and then taken out, as has() sees it).
    undefaulted: Value,
    schema: jsonschema::Validator,
}

fn kinds() -> &'static [Kind] {
    static KINDS: OnceLock<Vec<Kind>> = OnceLock::new();
    KINDS.get_or_init(|| {
        crate::core::crd::definitions()
            .into_iter()
            .map(|(_, crd)| {
                let version = &crd.spec.versions[0];
                let openapi = serde_json::to_value(
                    version
                        .schema
                        .as_ref()
                        .and_then(|s| s.open_api_v3_schema.as_ref())
                        .expect("a generated CRD has a schema"),
                )
                .expect("the schema serializes");
                let schema = jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft4)
                    .build(&json_schema(&openapi, true))
                    .expect("the CRD's schema is valid JSON Schema");
                let mut undefaulted = openapi.clone();
                strip_defaults(&mut undefaulted);
                Kind {
                    kind: crd.spec.names.kind.clone(),
                    undefaulted,
                    group: crd.spec.group.clone(),
                    version: version.name.clone(),
                    namespaced: crd.spec.scope == "Namespaced",
                    openapi,
                    schema,
                }
            })
            .collect()
    })
}

/// The `apiVersion` of one of the CRDs' kinds, and whether it is namespaced.
pub fn identity(kind: &str) -> (String, bool) {
    let crd = of(kind);
    (format!("{}/{}", crd.group, crd.version), crd.namespaced)
}

fn of(kind: &str) -> &'static Kind {
    kinds()
        .iter()
        .find(|k| k.kind == kind)
        .expect("one of the CRDs' kinds")
}

/// Every problem the API server would find in `object` (one of the CRDs' kinds) on create,
/// and the object as the API server would keep it before defaulting: nulls that it drops
/// are dropped.
pub fn check(kind: &str, object: &Value) -> (Value, Vec<Problem>) {
    let crd = of(kind);
    let mut object = object.clone();
    if let Value::Object(fields) = &mut object {
        // Status is the operator's: the API server ignores it on create.
        fields.remove("status");
    }
    prune_nulls(&crd.openapi, &mut object);
    let errors: Vec<_> = crd.schema.iter_errors(&object).collect();
    // A value of the wrong type is said once, not again for each rule it then breaks.
    let mistyped: Vec<String> = errors
        .iter()
        .filter(|e| matches!(e.kind(), ValidationErrorKind::Type { .. }))
        .map(|e| e.instance_path().as_str().to_owned())
        .collect();
    let problems: Vec<Problem> = errors
        .iter()
        .filter(|e| {
            matches!(e.kind(), ValidationErrorKind::Type { .. })
                || !mistyped.iter().any(|p| p == e.instance_path().as_str())
        })
        .flat_map(|e| {
            problems(
                &crd.openapi,
                e.instance_path().as_str(),
                e.kind(),
                e.instance(),
            )
        })
        .collect();
    if !problems.is_empty() {
        // As the API server: the CEL rules run on an object the schema accepts.
        return (object, problems);
    }
    let mut defaulted = apply_defaults(&crd.openapi, &object);
    // A null is absent to CEL's has(), as in the API server.
    drop_nulls(&mut defaulted);
    let root = RootContext {
        api_version: format!("{}/{}", crd.group, crd.version),
        api_group: crd.group.clone(),
        kind: crd.kind.clone(),
    };
    let problems = match Validator::new().validate_with_context(
        &crd.undefaulted,
        &defaulted,
        None,
        Some(&root),
    ) {
        Ok(()) => Vec::new(),
        Err(failed) => failed.into_vec().into_iter().map(cel_problem).collect(),
    };
    (object, problems)
}

/// A failed CEL rule: its field path (`spec.alarms.actions`, `items[1]`) as a pointer. A
/// rule on the whole object names its field in its message (`metadata.name: ...`).
fn cel_problem(error: kube::core::cel::ValidationError) -> Problem {
    let (path, message) = match error.field_path.as_str() {
        "" => match error.message.split_once(": ") {
            Some((field, message)) if !field.contains(' ') => {
                (field.to_owned(), message.to_owned())
            }
            _ => (String::new(), error.message.clone()),
        },
        path => (path.to_owned(), error.message.clone()),
    };
    let pointer: String = path
        .replace('[', ".")
        .replace(']', "")
        .split('.')
        .filter(|part| !part.is_empty())
        .map(|part| format!("/{part}"))
        .collect();
    Problem { pointer, message }
}

/// What one JSON Schema error means, said as the field it is about (`openapi`: the CRD's
/// schema, for the fields an unknown one was likely meant to be).
fn problems(
    openapi: &Value,
    pointer: &str,
    kind: &ValidationErrorKind,
    value: &Value,
) -> Vec<Problem> {
    let at = |pointer: String, message: String| Problem { pointer, message };
    use ValidationErrorKind as K;
    let message = match kind {
        K::AdditionalProperties { unexpected } => {
            let known = fields_at(openapi, pointer);
            return unexpected
                .iter()
                .map(|field| {
                    let mut why = "unknown field: the CRD has no such field".to_owned();
                    if let Some(meant) = nearest(field, &known) {
                        why.push_str(&format!("; did you mean {meant}?"));
                    }
                    let field = field.replace('~', "~0").replace('/', "~1");
                    at(format!("{pointer}/{field}"), why)
                })
                .collect();
        }
        K::Required { property } => {
            let field = property.as_str().unwrap_or_default();
            let why = "required field missing";
            return vec![at(format!("{pointer}/{field}"), why.to_owned())];
        }
        K::Type { kind } => format!("must be of type {}, got {value}", type_name(kind)),
        K::Enum { .. } if value.is_null() => crate::core::crd::NOT_NULL.to_owned(),
        K::Enum { options } => format!("must be one of {options}"),
        K::Pattern { pattern } => format!("must match {pattern}"),
        K::MinLength { limit: 1 } => "must not be empty".to_owned(),
        K::MinLength { limit } => format!("must be at least {limit} characters"),
        K::MaxLength { limit } => format!("must be at most {limit} characters"),
        K::MinItems { limit } => format!("must have at least {limit} items"),
        K::MaxItems { limit } => format!("must have at most {limit} items"),
        K::MaxProperties { limit } => format!("must have at most {limit} entries"),
        K::Minimum { limit } => format!("must be at least {}", number(limit)),
        K::Maximum { limit } => format!("must be at most {}", number(limit)),
        other => format!("{other:?}"),
    };
    vec![at(pointer.to_owned(), message)]
}

/// The fields the schema declares for the object at `pointer` (the root's own included).
fn fields_at<'a>(openapi: &'a Value, pointer: &str) -> Vec<&'a str> {
    let mut node = openapi;
    for part in pointer.split('/').skip(1) {
        let part = part.replace("~1", "/").replace("~0", "~");
        node = match &node["properties"][&part] {
            Value::Null if node.get("items").is_some() => &node["items"],
            Value::Null => &node["additionalProperties"],
            field => field,
        };
    }
    let mut fields: Vec<&str> = node["properties"]
        .as_object()
        .map(|properties| properties.keys().map(String::as_str).collect())
        .unwrap_or_default();
    if pointer.is_empty() {
        fields.extend(["apiVersion", "kind", "metadata"]);
    }
    fields
}

/// The declared field an unknown one most likely meant: the same but for case, or within a
/// few edits (a typo, a letter left out), as kubectl users expect of a suggestion.
fn nearest<'a>(unknown: &str, fields: &[&'a str]) -> Option<&'a str> {
    let folded = unknown.to_ascii_lowercase();
    let allowed = (unknown.chars().count() / 3).clamp(1, 3);
    fields
        .iter()
        .map(|field| {
            let distance = strsim::damerau_levenshtein(&folded, &field.to_ascii_lowercase());
            (distance, *field)
        })
        .filter(|(distance, _)| *distance <= allowed)
        .min()
        .map(|(_, field)| field)
}

/// A limit as written in the schema, without a `.0` on whole numbers.
fn number(limit: &Value) -> String {
    match limit.as_f64() {
        Some(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", n as i64),
        _ => limit.to_string(),
    }
}

fn type_name(kind: &jsonschema::error::TypeKind) -> String {
    let names = match kind {
        jsonschema::error::TypeKind::Single(t) => vec![t.to_string()],
        jsonschema::error::TypeKind::Multiple(types) => {
            types.iter().map(|t| t.to_string()).collect()
        }
    };
    names
        .into_iter()
        .filter(|name| name != "null")
        .collect::<Vec<_>>()
        .join(" or ")
}

/// The API server's pruning of nulls: a null for a field that is not nullable is dropped, or
/// replaced by the field's default.
fn prune_nulls(schema: &Value, value: &mut Value) {
    match value {
        Value::Object(fields) => {
            let properties = schema["properties"].as_object();
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            let keys: Vec<String> = fields.keys().cloned().collect();
            for key in keys {
                let Some(field) = properties.and_then(|p| p.get(&key)).or(additional) else {
                    continue;
                };
                if fields[&key].is_null() && field["nullable"] != Value::Bool(true) {
                    match field.get("default") {
                        Some(default) => fields.insert(key, default.clone()),
                        None => fields.remove(&key),
                    };
                } else if let Some(inner) = fields.get_mut(&key) {
                    prune_nulls(field, inner);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                prune_nulls(&schema["items"], item);
            }
        }
        _ => {}
    }
}

fn strip_defaults(schema: &mut Value) {
    let Some(node) = schema.as_object_mut() else {
        return;
    };
    node.remove("default");
    if let Some(Value::Object(properties)) = node.get_mut("properties") {
        properties.values_mut().for_each(strip_defaults);
    }
    for key in ["items", "additionalProperties"] {
        if let Some(inner) = node.get_mut(key) {
            strip_defaults(inner);
        }
    }
}

fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            fields.retain(|_, v| !v.is_null());
            fields.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// An openAPIV3Schema (a structural one, as CRDs have) as JSON Schema draft 4: `nullable`
/// becomes a null type, int32 and int64 become ranges, `x-kubernetes-int-or-string` a choice,
/// and an object with declared fields refuses others (strict field validation). The root's
/// `metadata` is left to the caller: the API server checks it by its own rules.
fn json_schema(openapi: &Value, root: bool) -> Value {
    let Some(node) = openapi.as_object() else {
        return openapi.clone();
    };
    let mut out = Map::new();
    for key in [
        "required",
        "enum",
        "pattern",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
    ] {
        if let Some(value) = node.get(key) {
            out.insert(key.to_owned(), value.clone());
        }
    }
    if let Some(kind) = node.get("type") {
        let nullable = node.get("nullable") == Some(&Value::Bool(true));
        out.insert(
            "type".to_owned(),
            if nullable {
                json!([kind, "null"])
            } else {
                kind.clone()
            },
        );
    }
    if node.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        out.remove("type");
        out.insert(
            "anyOf".to_owned(),
            json!([{"type": "integer"}, {"type": "string"}]),
        );
    }
    let (min, max) = match node.get("format").and_then(Value::as_str) {
        Some("int32") => (json!(i32::MIN), json!(i32::MAX)),
        Some("int64") => (json!(i64::MIN), json!(i64::MAX)),
        _ => (Value::Null, Value::Null),
    };
    if !min.is_null() {
        out.entry("minimum").or_insert(min);
        out.entry("maximum").or_insert(max);
    }
    if let Some(properties) = node.get("properties").and_then(Value::as_object) {
        let mut properties: Map<String, Value> = properties
            .iter()
            .map(|(name, field)| (name.clone(), json_schema(field, false)))
            .collect();
        if root {
            // Every object has these; the API server checks metadata by its own rules.
            properties.insert("apiVersion".to_owned(), json!({"type": "string"}));
            properties.insert("kind".to_owned(), json!({"type": "string"}));
            properties.insert("metadata".to_owned(), json!({"type": "object"}));
        }
        out.insert("properties".to_owned(), Value::Object(properties));
    }
    if let Some(items) = node.get("items") {
        out.insert("items".to_owned(), json_schema(items, false));
    }
    let preserves = node.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    match node.get("additionalProperties") {
        Some(additional @ Value::Object(_)) => {
            out.insert(
                "additionalProperties".to_owned(),
                json_schema(additional, false),
            );
        }
        Some(additional) => {
            out.insert("additionalProperties".to_owned(), additional.clone());
        }
        None if node.contains_key("properties") && !preserves => {
            out.insert("additionalProperties".to_owned(), Value::Bool(false));
        }
        None => {}
    }
    Value::Object(out)
}
