//! Reading guards from YAML files (multi-document), as `kubectl apply -f` would take them.

use std::path::Path;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

use crate::crd::{ApiGatewayGuard, ApiGatewayGuardSpec};
use crate::model::GuardId;
use crate::validate::{validate, validate_alarm_names};

const API_VERSION: &str = "apigw-guard.dev/v1alpha1";
const KIND: &str = "ApiGatewayGuard";

/// A manifest that cannot be used, with the file (and line, where YAML knows it).
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{file}: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: guard {guard}: {}", errors.join("; "))]
    Invalid {
        file: String,
        guard: String,
        errors: Vec<String>,
    },
}

/// One document as written: unknown top-level fields are errors, as in the spec.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Document {
    api_version: String,
    kind: String,
    metadata: ObjectMeta,
    spec: ApiGatewayGuardSpec,
    /// Ignored: status is the operator's to write, but exported objects carry it.
    #[serde(default, rename = "status")]
    _status: Option<serde::de::IgnoredAny>,
}

/// Parses and validates every guard in the YAML text; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Vec<ApiGatewayGuard>, ManifestError> {
    let mut guards = Vec::new();
    // A first, untyped pass finds each document's name, so a typed error can say which guard.
    // It stops at the first malformed document: serde_yaml repeats that error forever.
    let names: Vec<Option<String>> = serde_yaml::Deserializer::from_str(text)
        .map_while(|document| serde_yaml::Value::deserialize(document).ok())
        .map(|value| value["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let parsed =
            Option::<Document>::deserialize(document).map_err(|e| ManifestError::Parse {
                file: file.to_owned(),
                message: match names.get(index).cloned().flatten() {
                    Some(name) => format!("guard {name}: {e}"),
                    None => e.to_string(),
                },
            })?;
        let Some(doc) = parsed else { continue };
        let name = doc.metadata.name.clone().unwrap_or_default();
        let parse_error = |message: String| ManifestError::Parse {
            file: file.to_owned(),
            message,
        };
        if doc.api_version != API_VERSION || doc.kind != KIND {
            return Err(parse_error(format!(
                "document {name:?} is {}/{}, expected {API_VERSION}/{KIND}",
                doc.api_version, doc.kind
            )));
        }
        if name.is_empty() {
            return Err(parse_error("a guard has no metadata.name".to_owned()));
        }
        let mut guard = ApiGatewayGuard::new(&name, doc.spec);
        guard.metadata = doc.metadata;
        let mut errors = validate(&guard.spec);
        errors.extend(validate_alarm_names(&GuardId {
            namespace: guard
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".to_owned()),
            name: name.clone(),
        }));
        // The CRD's own CEL rules, as the API server evaluates them: a guard the cluster
        // refuses is refused here too, even for a rule validate() does not repeat.
        if let Err(failed) = kube::core::cel::validate_cel(&guard) {
            let cel: Vec<String> = failed
                .into_vec()
                .into_iter()
                .map(|e| e.to_string())
                .collect();
            let new: Vec<String> = cel
                .into_iter()
                .filter(|e| !errors.iter().any(|known| same_field(known, e)))
                .collect();
            errors.extend(new);
        }
        if !errors.is_empty() {
            return Err(ManifestError::Invalid {
                file: file.to_owned(),
                guard: name,
                errors,
            });
        }
        guards.push(guard);
    }
    Ok(guards)
}

/// Whether a CEL error (`spec.x: message`) is about a field `validate()` already reported on,
/// so each problem is said once.
fn same_field(known: &str, cel: &str) -> bool {
    let path = |text: &str| text.split(": ").next().unwrap_or_default().to_owned();
    let cel = path(cel);
    !cel.is_empty() && path(known).starts_with(&cel)
}

/// Reads and parses a manifest file.
pub fn load(path: &Path) -> Result<Vec<ApiGatewayGuard>, ManifestError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
        file: file.clone(),
        source,
    })?;
    parse(&file, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUARD: &str = "apiVersion: apigw-guard.dev/v1alpha1\nkind: ApiGatewayGuard\n\
                         metadata: {name: g1, namespace: team}\nspec:\n  restApi: {name: orders}\n  stage: prod\n";

    #[test]
    fn reads_every_document_and_skips_empty_ones() {
        let text = format!("{GUARD}---\n{}\n---\n", GUARD.replace("g1", "g2"));
        let guards = parse("f.yaml", &text).expect("parses");
        let names: Vec<_> = guards
            .iter()
            .map(|g| g.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["g1", "g2"]);
        assert_eq!(guards[1].metadata.namespace.as_deref(), Some("team"));
    }

    #[test]
    fn unknown_field_names_file_and_line() {
        let text = format!("{GUARD}---\n{GUARD}  tracing: {{enabled: true, sampling: 5}}\n");
        let err = parse("guards.yaml", &text).unwrap_err().to_string();
        assert!(err.starts_with("guards.yaml: "), "{err}");
        assert!(err.contains("unknown field `sampling`"), "{err}");
        assert!(err.contains("line 14"), "{err}");
    }

    #[test]
    fn malformed_yaml_is_an_error_not_a_panic() {
        let err = parse("bad.yaml", "apiVersion: [unclosed\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("bad.yaml: "), "{err}");
        assert!(err.contains("line"), "{err}");
    }

    #[test]
    fn wrong_kind_and_invalid_spec_are_named() {
        let err = parse(
            "f.yaml",
            &GUARD.replace("kind: ApiGatewayGuard", "kind: Other"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("expected apigw-guard.dev/v1alpha1/ApiGatewayGuard"),
            "{err}"
        );
        let err = parse(
            "f.yaml",
            &GUARD.replace("{name: orders}", "{name: orders, id: abc}"),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "f.yaml: guard g1: spec.restApi: give exactly one of name or id"
        );
    }

    #[test]
    fn partial_alarm_overrides_parse_and_the_cel_rules_see_the_defaults() {
        let partial = format!(
            "{GUARD}  alarms: {{fiveXXError: {{threshold: 5}}, latency: {{enabled: false}}}}\n"
        );
        let guards = parse("f.yaml", &partial).expect("every alarm field is optional");
        let alarms = guards[0].spec.alarms.as_ref().unwrap();
        assert_eq!(alarms.five_xx_error().threshold, 5.0);
        assert_eq!(alarms.five_xx_error().statistic, "Sum");
        assert!(!alarms.latency().enabled);
        // 300 s (the default period) x 289 is more than a day.
        let err = parse(
            "f.yaml",
            &format!("{GUARD}  alarms: {{latency: {{evaluationPeriods: 289}}}}\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("periodSeconds x evaluationPeriods must be at most 86400"),
            "{err}"
        );
    }
}
