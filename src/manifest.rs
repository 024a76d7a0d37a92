//! Reading guards and the AwsAccounts they name from YAML files (multi-document), as
//! `kubectl apply -f` would take them.

use std::path::Path;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

use crate::crd::{ApiGatewayGuard, ApiGatewayGuardPolicy, ApiGatewayGuardSpec, AwsAccount};
use crate::model::GuardId;
use crate::validate::{role_arn_problem, validate, validate_alarm_names};

const API_VERSION: &str = "apigw-guard.dev/v1alpha1";
const KIND: &str = "ApiGatewayGuard";
const ACCOUNT_KIND: &str = "AwsAccount";
const POLICY_KIND: &str = "ApiGatewayGuardPolicy";

/// What a file holds, in file order.
#[derive(Debug, Default)]
pub struct Manifest {
    pub guards: Vec<ApiGatewayGuard>,
    pub accounts: Vec<AwsAccount>,
    pub policies: Vec<ApiGatewayGuardPolicy>,
}

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
    #[error("{file}: {kind} {guard}: {}", errors.join("; "))]
    Invalid {
        file: String,
        /// "guard" or "AwsAccount".
        kind: &'static str,
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

/// An AwsAccount or policy document as written: unknown top-level fields are errors.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KindDocument<S> {
    api_version: String,
    metadata: ObjectMeta,
    spec: S,
    #[serde(default, rename = "status")]
    _status: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "kind")]
    _kind: serde::de::IgnoredAny,
}

/// Parses and validates every guard, AwsAccount and policy in the YAML text; `file` names it
/// in errors.
pub fn parse(file: &str, text: &str) -> Result<Manifest, ManifestError> {
    let mut manifest = Manifest::default();
    // A first, untyped pass finds each document's kind and name, so a typed error can say
    // which guard. It stops at the first malformed document: serde_yaml repeats that error
    // forever.
    let heads: Vec<(Option<String>, Option<String>)> = serde_yaml::Deserializer::from_str(text)
        .map_while(|document| serde_yaml::Value::deserialize(document).ok())
        .map(|value| {
            let field = |v: &serde_yaml::Value| v.as_str().map(str::to_owned);
            (field(&value["kind"]), field(&value["metadata"]["name"]))
        })
        .collect();
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let (kind, name) = heads.get(index).cloned().unwrap_or_default();
        // The namespaces a file creates for its guards, as `kubectl apply -f` takes them; a
        // file has no cluster to make them in, so they are passed over.
        if kind.as_deref() == Some("Namespace") {
            continue;
        }
        if kind.as_deref() == Some(ACCOUNT_KIND) {
            let name = name.unwrap_or_default();
            manifest
                .accounts
                .push(parse_account(file, &name, document)?);
            continue;
        }
        if kind.as_deref() == Some(POLICY_KIND) {
            let name = name.unwrap_or_default();
            manifest.policies.push(parse_policy(file, &name, document)?);
            continue;
        }
        let parsed =
            Option::<Document>::deserialize(document).map_err(|e| ManifestError::Parse {
                file: file.to_owned(),
                message: match &name {
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
                kind: "guard",
                guard: name,
                errors,
            });
        }
        manifest.guards.push(guard);
    }
    Ok(manifest)
}

/// One AwsAccount document, checked as the API server would: its CEL rules, and its role ARN's
/// pattern, which the API server checks and CEL does not.
fn parse_account(
    file: &str,
    name: &str,
    document: serde_yaml::Deserializer,
) -> Result<AwsAccount, ManifestError> {
    parse_kind(
        file,
        "AwsAccount",
        name,
        document,
        AwsAccount::new,
        |account| {
            role_arn_problem(&account.spec.role_arn)
                .into_iter()
                .collect()
        },
    )
}

/// One document of `kind` (not a guard): its apiVersion and name, then its CEL rules and the
/// errors of `checks`, all said together.
fn parse_kind<K, S>(
    file: &str,
    kind: &'static str,
    name: &str,
    document: serde_yaml::Deserializer,
    new: impl FnOnce(&str, S) -> K,
    checks: impl FnOnce(&K) -> Vec<String>,
) -> Result<K, ManifestError>
where
    S: serde::de::DeserializeOwned,
    K: kube::CustomResourceExt + kube::Resource + serde::Serialize,
{
    let parse_error = |message: String| ManifestError::Parse {
        file: file.to_owned(),
        message: format!("{kind} {name}: {message}"),
    };
    let doc = KindDocument::<S>::deserialize(document).map_err(|e| parse_error(e.to_string()))?;
    if doc.api_version != API_VERSION {
        return Err(parse_error(format!(
            "apiVersion is {}, expected {API_VERSION}",
            doc.api_version
        )));
    }
    if name.is_empty() {
        return Err(parse_error("no metadata.name".to_owned()));
    }
    let mut object = new(name, doc.spec);
    *object.meta_mut() = doc.metadata;
    let mut errors = Vec::new();
    if let Err(failed) = kube::core::cel::validate_cel(&object) {
        errors.extend(failed.into_vec().into_iter().map(|e| e.to_string()));
    }
    errors.extend(checks(&object));
    match errors.is_empty() {
        true => Ok(object),
        false => Err(ManifestError::Invalid {
            file: file.to_owned(),
            kind,
            guard: name.to_owned(),
            errors,
        }),
    }
}

/// Whether a CEL error (`spec.x: message`) is about a field `validate()` already reported on,
/// so each problem is said once.
fn same_field(known: &str, cel: &str) -> bool {
    let path = |text: &str| text.split(": ").next().unwrap_or_default().to_owned();
    let cel = path(cel);
    !cel.is_empty() && path(known).starts_with(&cel)
}

/// One policy document, checked as the API server would: its CEL rules, and its template as
/// the guards it makes will be.
fn parse_policy(
    file: &str,
    name: &str,
    document: serde_yaml::Deserializer,
) -> Result<ApiGatewayGuardPolicy, ManifestError> {
    let kind = "ApiGatewayGuardPolicy";
    parse_kind(
        file,
        kind,
        name,
        document,
        ApiGatewayGuardPolicy::new,
        |policy| {
            let mut errors = Vec::new();
            if policy.spec.selector.stages.is_empty() {
                errors.push("spec.selector.stages: name at least one stage glob".to_owned());
            }
            let sample = policy.spec.template.guard_spec(&policy.spec, "id", "stage");
            errors.extend(
                validate(&sample)
                    .into_iter()
                    .map(|e| e.replacen("spec.", "spec.template.", 1)),
            );
            errors
        },
    )
}

/// Reads and parses a manifest file.
pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
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
        let guards = parse("f.yaml", &text).expect("parses").guards;
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
        let guards = parse("f.yaml", &partial)
            .expect("every alarm field is optional")
            .guards;
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

    const ACCOUNT: &str = "apiVersion: apigw-guard.dev/v1alpha1\nkind: AwsAccount\n\
                           metadata: {name: payments}\nspec:\n  \
                           roleArn: arn:aws:iam::111122223333:role/apigw-guard\n  \
                           namespaceSelector: {matchLabels: {team: payments}}\n";

    #[test]
    fn accounts_are_read_beside_the_guards_and_checked_like_the_cluster() {
        let namespace = "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n";
        let text = format!("{namespace}---\n{ACCOUNT}---\n{GUARD}  account: payments\n");
        let manifest = parse("f.yaml", &text).expect("parses");
        assert_eq!(manifest.accounts.len(), 1);
        assert_eq!(manifest.accounts[0].spec.role_account(), "111122223333");
        assert_eq!(manifest.guards[0].spec.account.as_deref(), Some("payments"));
        let err = parse("f.yaml", &ACCOUNT.replace("111122223333", "1111"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("AwsAccount payments: spec.roleArn"), "{err}");
        let err = parse(
            "f.yaml",
            &ACCOUNT.replace(
                "{matchLabels: {team: payments}}",
                "{matchExpressions: [{key: team, operator: In}]}",
            ),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("values must be given for In and NotIn"),
            "{err}"
        );
        let err = parse("f.yaml", &format!("{ACCOUNT}  region: x\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `region`"), "{err}");
    }
}
