//! The `AwsAccount` custom resource: an AWS account the operator acts in by assuming a role,
//! and which tenants may use it for what. The platform team writes it; tenants only name it.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Condition;

/// An IAM role ARN in one of AWS's partitions (an ARN of any other partition names nothing).
pub const ROLE_ARN_PATTERN: &str = r"^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b|aws-iso-e|aws-iso-f|aws-eusc):iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$";

/// Kubernetes' rule for a label key (`format.qualifiedName`): an optional DNS subdomain
/// prefix and `/`, then a name of at most 63 characters.
const LABEL_KEY_RULE: &str = "!format.qualifiedName().validate(self).hasValue()";
const LABEL_KEY_MESSAGE: &str = "must be a label key: an optional DNS subdomain prefix and '/', then at most 63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit";

/// An AWS account the operator acts in by assuming `roleArn` (STS AssumeRole), and who may use
/// it: the guards of the namespaces `namespaceSelector` selects, on the APIs whose tags
/// `restApis` requires. Guards name it in `spec.account`.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "apigw-guard.dev",
    version = "v1alpha1",
    kind = "AwsAccount",
    status = "AwsAccountStatus",
    shortname = "awsacct",
    doc = "An AWS account the operator acts in by assuming a role, and which namespaces' guards may use it on which REST APIs.",
    printcolumn = r#"{"name":"Role","type":"string","jsonPath":".spec.roleArn"}"#,
    printcolumn = r#"{"name":"Account","type":"string","jsonPath":".status.accountId"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AwsAccountSpec {
    /// The IAM role the operator assumes to act in the account, e.g.
    /// arn:aws:iam::111122223333:role/apigw-guard. Its trust policy must allow the operator's
    /// own role (deploy/iam-trust-policy.json).
    #[schemars(regex(pattern = ROLE_ARN_PATTERN))]
    pub role_arn: String,
    /// The external id the role's trust policy requires (the sts:ExternalId condition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 1224), regex(pattern = r"^[\w+=,.@:/-]+$"))]
    pub external_id: Option<String>,
    /// Whose guards may use the account: the namespaces this selects by their labels. `{}`
    /// selects every namespace. Applies in a cluster only: `apigw-guard plan -f` and
    /// `reconcile --once -f` have no namespaces to look at.
    pub namespace_selector: NamespaceSelector,
    /// Which of the account's APIs (REST and HTTP alike) those guards may touch. Omitted:
    /// every API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rest_apis: Option<RestApiFilter>,
}

/// A label selector over namespaces (the metav1.LabelSelector shape): every rule must hold.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamespaceSelector {
    /// Labels the namespace must carry with exactly these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend(
        "maxProperties" = 64,
        "additionalProperties" = label_value_schema(),
        "x-kubernetes-validations" = [{
            "rule": "self.all(key, !format.qualifiedName().validate(key).hasValue())",
            "message": format!("every key {LABEL_KEY_MESSAGE}"),
        }],
    ))]
    pub match_labels: BTreeMap<String, String>,
    /// Further rules on the namespace's labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub match_expressions: Vec<SelectorRequirement>,
}

/// One rule of a label selector.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(
    validation = Rule::new("(self.operator == 'In' || self.operator == 'NotIn') == (has(self.values) && size(self.values) > 0)")
        .message("values must be given for In and NotIn, and only for them")
)]
pub struct SelectorRequirement {
    /// The label's key.
    #[schemars(length(min = 1, max = 317))]
    #[x_kube(validation = Rule::new(LABEL_KEY_RULE).message(LABEL_KEY_MESSAGE))]
    pub key: String,
    /// In, NotIn, Exists or DoesNotExist.
    pub operator: SelectorOperator,
    /// The values for In and NotIn.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("items" = label_value_schema()))]
    pub values: Vec<String>,
}

/// A label value: at most 63 characters of letters, digits, `-`, `_` and `.`, starting and
/// ending with a letter or digit, or empty.
fn label_value_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "string",
        "maxLength": 63,
        "pattern": "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$",
    })
}

/// How a selector rule compares a label.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum SelectorOperator {
    /// The label's value is one of `values`.
    In,
    /// The label is absent or its value is none of `values`.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

/// The APIs of the account (REST and HTTP alike) that guards may touch.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(validation = Rule::new("size(self.tags) > 0").message("name at least one tag"))]
pub struct RestApiFilter {
    /// Tags the API must carry with exactly these values, all of them. A usage plan
    /// throttle is allowed only when every API the plan serves carries them too.
    pub tags: BTreeMap<String, String>,
}

/// What the operator last found when assuming the role, following kstatus conventions.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsAccountStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling and Stalled (kstatus).
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The account the assumed role acts in, as STS GetCallerIdentity reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

impl AwsAccountSpec {
    /// The account id in the role ARN: the account the role promises to act in.
    pub fn role_account(&self) -> &str {
        self.role_arn.split(':').nth(4).unwrap_or_default()
    }
}
