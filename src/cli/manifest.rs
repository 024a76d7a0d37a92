//! Reading guards, policies and the AwsAccounts they name from YAML files (multi-document), as
//! `kubectl apply -f` would take them, and refusing what the API server would refuse.
//!
//! One validation, two callers: a document is read as kubectl reads it (YAML 1.1, [`yaml`]),
//! its metadata checked as the API server checks any object's ([`metadata`]), then checked
//! against the CRDs themselves, schema and CEL rules ([`schema`]), the same definitions
//! `crdgen` writes to `crds/`. What neither can say (e.g. alarm names over CloudWatch's limit)
//! [`crate::core::validate`] adds, as the controller reports it. Every problem names the file, the
//! line, the object and the field.

mod metadata;
mod schema;
mod yaml;

use std::path::Path;

use serde_json::Value;

use crate::core::crd::{ApiGatewayGuard, ApiGatewayGuardPolicy, AwsAccount};
use crate::core::model::GuardId;
use crate::core::validate::{validate, validate_alarm_names};

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

/// One thing wrong with a document: where, which field, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub line: usize,
    /// The field, e.g. `spec.alarms.actions[0]`; empty for the whole document.
    pub field: String,
    pub message: String,
}

/// A manifest that cannot be used, with the file and line.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{file}: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}: YAML syntax error: {message}")]
    Syntax {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{}", said(file, kind, name, problems))]
    Invalid {
        file: String,
        /// "guard", "AwsAccount", "ApiGatewayGuardPolicy", or "document" for one of no
        /// known kind.
        kind: String,
        name: String,
        problems: Vec<Problem>,
    },
}

/// Each problem on its own line: `file:line: kind name: field: message`.
fn said(file: &str, kind: &str, name: &str, problems: &[Problem]) -> String {
    let object = match name {
        "" => kind.to_owned(),
        name => format!("{kind} {name}"),
    };
    problems
        .iter()
        .map(|p| match p.field.as_str() {
            "" => format!("{file}:{}: {object}: {}", p.line, p.message),
            field => format!("{file}:{}: {object}: {field}: {}", p.line, p.message),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Parses and validates every guard, AwsAccount and policy in the YAML text; `file` names it
/// in errors. The first document with problems is an error with all of its problems.
pub fn parse(file: &str, text: &str) -> Result<Manifest, ManifestError> {
    let documents = yaml::documents(text).map_err(|e| ManifestError::Syntax {
        file: file.to_owned(),
        line: e.line,
        message: e.message,
    })?;
    let mut manifest = Manifest::default();
    for document in documents {
        if document.value.is_null() {
            continue;
        }
        let name = document.value["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let invalid = |kind: &str, problems: Vec<Problem>| ManifestError::Invalid {
            file: file.to_owned(),
            kind: kind.to_owned(),
            name: name.clone(),
            problems,
        };
        match document.value["kind"].as_str() {
            // The namespaces a file creates for its guards, as `kubectl apply -f` takes them;
            // a file has no cluster to make them in, so they are passed over.
            Some("Namespace") => {}
            Some(KIND) => manifest.guards.push(
                read::<ApiGatewayGuard>(&document, KIND, guard_checks)
                    .map_err(|p| invalid("guard", p))?,
            ),
            Some(ACCOUNT_KIND) => manifest.accounts.push(
                read::<AwsAccount>(&document, ACCOUNT_KIND, |_| Vec::new())
                    .map_err(|p| invalid(ACCOUNT_KIND, p))?,
            ),
            Some(POLICY_KIND) => manifest.policies.push(
                read::<ApiGatewayGuardPolicy>(&document, POLICY_KIND, policy_checks)
                    .map_err(|p| invalid(POLICY_KIND, p))?,
            ),
            other => {
                let message = match other {
                    None => {
                        "no kind: expected ApiGatewayGuard, ApiGatewayGuardPolicy or AwsAccount"
                            .to_owned()
                    }
                    Some(kind) => format!(
                        "{kind:?} is none of ApiGatewayGuard, ApiGatewayGuardPolicy, AwsAccount (or Namespace)"
                    ),
                };
                let problem = Problem {
                    line: document.line_of("/kind"),
                    field: "kind".to_owned(),
                    message,
                };
                return Err(invalid("document", vec![problem]));
            }
        }
    }
    Ok(manifest)
}

/// One document of `kind`: its apiVersion and metadata, the CRD's schema and CEL rules, then
/// what `checks` finds in the typed object (`field: message` each).
fn read<K>(
    document: &yaml::Document,
    kind: &str,
    checks: impl FnOnce(&K) -> Vec<String>,
) -> Result<K, Vec<Problem>>
where
    K: serde::de::DeserializeOwned,
{
    let at = |pointer: &str, message: String| Problem {
        line: document.line_of(pointer),
        field: field_of(pointer),
        message: explained(document, pointer, message),
    };
    let (expected, namespaced) = schema::identity(kind);
    let mut problems = Vec::new();
    if document.value["apiVersion"] != Value::String(expected.clone()) {
        problems.push(at(
            "/apiVersion",
            format!("must be {expected}, the CRD's version of {kind}"),
        ));
    }
    problems.extend(
        metadata::problems(&document.value["metadata"], namespaced)
            .into_iter()
            .map(|p| at(&p.pointer, p.message)),
    );
    let (object, found) = schema::check(kind, &document.value);
    problems.extend(found.into_iter().map(|p| at(&p.pointer, p.message)));
    if !problems.is_empty() {
        problems.sort_by_key(|p| p.line);
        return Err(problems);
    }
    let object: K = serde_json::from_value(object).map_err(|e| vec![at("", e.to_string())])?;
    let problems: Vec<Problem> = checks(&object)
        .into_iter()
        .map(|said| {
            let (field, message) = said.split_once(": ").unwrap_or(("", &said));
            at(&pointer_of(field), message.to_owned())
        })
        .collect();
    match problems.is_empty() {
        true => Ok(object),
        false => Err(problems),
    }
}

/// What the CRD cannot check in a guard: [`validate`], and its alarm names' length.
fn guard_checks(guard: &ApiGatewayGuard) -> Vec<String> {
    let mut errors = validate(&guard.spec);
    errors.extend(validate_alarm_names(&GuardId {
        namespace: guard
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned()),
        name: guard.metadata.name.clone().unwrap_or_default(),
    }));
    errors
}

/// What the CRD cannot check in a policy: its template as the guards it makes will be.
fn policy_checks(policy: &ApiGatewayGuardPolicy) -> Vec<String> {
    let mut errors: Vec<String> = Vec::new();
    for kind in crate::core::kind::KINDS {
        let sample = policy
            .spec
            .template
            .guard_spec(&policy.spec, kind, "id", "stage");
        for error in validate(&sample) {
            let error = error.replacen("spec.", "spec.template.", 1);
            // What both kinds' guards would say, once.
            if !errors.contains(&error) {
                errors.push(error);
            }
        }
    }
    errors
}

/// `/spec/alarms/actions/0` as `spec.alarms.actions[0]`.
fn field_of(pointer: &str) -> String {
    let mut field = String::new();
    for part in pointer.split('/').skip(1) {
        let part = part.replace("~1", "/").replace("~0", "~");
        if part.bytes().all(|b| b.is_ascii_digit()) && !field.is_empty() {
            field.push_str(&format!("[{part}]"));
        } else {
            if !field.is_empty() {
                field.push('.');
            }
            field.push_str(&part);
        }
    }
    field
}

/// `spec.alarms.actions[0]` as `/spec/alarms/actions/0`.
fn pointer_of(field: &str) -> String {
    field
        .replace('[', ".")
        .replace(']', "")
        .split('.')
        .filter(|part| !part.is_empty())
        .map(|part| format!("/{part}"))
        .collect()
}

/// A problem with a bare YAML 1.1 scalar says how kubectl read it.
fn explained(document: &yaml::Document, pointer: &str, message: String) -> String {
    match document.yaml11.get(pointer) {
        Some(written) => format!(
            "{message} (kubectl reads the bare YAML 1.1 scalar {written} as {}; quote it: \"{written}\")",
            document.value.pointer(pointer).unwrap_or(&Value::Null)
        ),
        None => message,
    }
}

/// Reads and parses a manifest file; `-` is standard input, as kubectl's `-f -` (so
/// `kubectl kustomize DIR | apigw-guard plan -f -` works), named `<stdin>` in errors.
pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
    let (file, read) = match path.to_str() {
        Some("-") => (
            "<stdin>".to_owned(),
            std::io::read_to_string(std::io::stdin()),
        ),
        _ => (path.display().to_string(), std::fs::read_to_string(path)),
    };
    let text = read.map_err(|source| ManifestError::Read {
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
        assert_eq!(
            err,
            "guards.yaml:14: guard g1: spec.tracing.sampling: unknown field: the CRD has no such field"
        );
    }

    #[test]
    fn an_unknown_field_suggests_the_one_it_likely_meant() {
        let said = |extra: &str| {
            parse("g.yaml", &format!("{GUARD}{extra}"))
                .unwrap_err()
                .to_string()
        };
        assert!(
            said("  executionLoging: {level: ERROR}\n")
                .ends_with("spec.executionLoging: unknown field: the CRD has no such field; did you mean executionLogging?"),
        );
        // Nested, and a letter's case.
        assert!(said("  alarms: {latency: {thresold: 5}}\n").ends_with("did you mean threshold?"),);
        assert!(said("  Stage: prod\n").ends_with("did you mean stage?"));
        // Nothing near: no guess.
        assert!(said("  frobnicate: {}\n").ends_with("the CRD has no such field"));
    }

    #[test]
    fn malformed_yaml_is_an_error_not_a_panic() {
        let err = parse("bad.yaml", "apiVersion: [unclosed\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("bad.yaml:1: YAML syntax error: "), "{err}");
    }

    #[test]
    fn wrong_kind_and_invalid_spec_are_named() {
        let err = parse(
            "f.yaml",
            &GUARD.replace("kind: ApiGatewayGuard", "kind: Other"),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "f.yaml:2: document g1: kind: \"Other\" is none of ApiGatewayGuard, ApiGatewayGuardPolicy, AwsAccount (or Namespace)"
        );
        let err = parse("f.yaml", &GUARD.replace("v1alpha1", "v1"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "f.yaml:1: guard g1: apiVersion: must be apigw-guard.dev/v1alpha1, the CRD's version of ApiGatewayGuard"
        );
        let err = parse(
            "f.yaml",
            &GUARD.replace("{name: orders}", "{name: orders, id: abc}"),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "f.yaml:5: guard g1: spec.restApi: give exactly one of name or id"
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
        let alarms = guards[0].spec.controls.alarms.as_ref().unwrap();
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
        assert_eq!(
            err,
            "f.yaml:7: AwsAccount payments: spec.region: unknown field: the CRD has no such field"
        );
    }

    #[test]
    fn yaml_1_1_scalars_are_read_as_kubectl_reads_them() {
        let err = parse(
            "f.yaml",
            &format!("{GUARD}  executionLogging: {{level: OFF}}\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(
                "f.yaml:7: guard g1: spec.executionLogging.level: must be of type string"
            ),
            "{err}"
        );
        assert!(err.contains("quote it: \"OFF\""), "{err}");
        let quoted = format!("{GUARD}  executionLogging: {{level: 'OFF'}}\n");
        assert!(parse("f.yaml", &quoted).is_ok());
    }

    #[test]
    fn every_problem_of_a_document_is_said_on_its_own_line() {
        let text = GUARD.replace("name: g1", "name: G1").replace(
            "stage: prod",
            "stage: prod\n  region: us east\n  suspend: null",
        );
        let err = parse("f.yaml", &text).unwrap_err().to_string();
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 3, "{err}");
        assert!(
            lines[0].starts_with(
                "f.yaml:3: guard G1: metadata.name: \"G1\" is not an RFC 1123 subdomain"
            ),
            "{err}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with(
                "f.yaml:7: guard G1: spec.region: not an AWS region name, e.g. us-east-1"
            )),
            "{err}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with(
                "f.yaml:8: guard G1: spec.suspend: must not be null: omit the field for its default"
            )),
            "{err}"
        );
    }
}
