//! Tenancy: which guards may act through which identity, on which REST and HTTP APIs. Pure: the
//! controller and the CLI feed it what they read, and a refusal is an error that stops the
//! guard before any write.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kube::core::{Expression, Selector, SelectorExt};

use crate::core::crd::{ApiGatewayGuard, AwsAccount, NamespaceSelector};
use crate::core::model::{AwsError, GuardedApi, Identity, UsagePlan};

/// The condition reason of a guard that a tenancy rule refuses.
pub const FORBIDDEN: &str = "Forbidden";
/// The condition reason of a guard whose `spec.account` names no AwsAccount.
pub const ACCOUNT_NOT_FOUND: &str = "AccountNotFound";
/// The condition reason of a guard whose role reached another account than its ARN names.
pub const ACCOUNT_MISMATCH: &str = "AccountMismatch";

fn refused(code: &str, message: String) -> AwsError {
    AwsError::check(code, message)
}

/// What an AwsAccount allows one guard; checked against what AWS says before every write.
#[derive(Clone, Debug, PartialEq)]
pub struct Tenancy {
    /// The AwsAccount's name.
    pub account: String,
    /// The account id in its role ARN.
    pub role_account: String,
    /// Tags every REST API the guard touches must carry.
    pub required_tags: BTreeMap<String, String>,
}

impl Tenancy {
    pub fn of(account: &AwsAccount) -> Self {
        Self {
            account: kube::ResourceExt::name_any(account),
            role_account: account.spec.role_account().to_owned(),
            required_tags: account
                .spec
                .rest_apis
                .as_ref()
                .map(|filter| filter.tags.clone())
                .unwrap_or_default(),
        }
    }

    /// The role must act in the account its ARN names: a trust set up in another account
    /// would otherwise send the guard's writes there.
    pub fn check_reached(&self, reached: &str) -> Result<(), AwsError> {
        match reached == self.role_account {
            true => Ok(()),
            false => Err(refused(
                ACCOUNT_MISMATCH,
                format!(
                    "AwsAccount {}'s role names account {} but STS says the assumed role acts in \
                     {reached}; fix spec.roleArn",
                    self.account, self.role_account
                ),
            )),
        }
    }

    /// For a guard given `spec.account` after it acted through the operator's own identity
    /// ([`acted_as_own`]): its alarms are in the operator's own AWS account `own` (`None` while
    /// STS cannot say which), so the role must act in that same account.
    pub fn check_added(&self, own: Option<&str>) -> Result<(), AwsError> {
        let added = "spec.account was added to a guard that acted through the operator's own \
                     identity, so its alarms live in the operator's own AWS account";
        match own {
            Some(own) if own == self.role_account => Ok(()),
            Some(own) => Err(refused(
                ACCOUNT_MISMATCH,
                format!(
                    "{added} {own}, and AwsAccount {}'s role acts in {}: remove spec.account \
                     again, or delete the guard (its deletionPolicy cleans up in {own}) and \
                     create it anew naming AwsAccount {}",
                    self.account, self.role_account, self.account
                ),
            )),
            None => Err(AwsError {
                retryable: true,
                ..refused(
                    ACCOUNT_MISMATCH,
                    format!(
                        "{added}, which STS has not named yet; AwsAccount {}'s role may act for \
                         it only in that account",
                        self.account
                    ),
                )
            }),
        }
    }

    /// The API (REST or HTTP alike) must carry every required tag.
    pub fn check_api(&self, api: &GuardedApi) -> Result<(), AwsError> {
        match self.missing_tags(api) {
            None => Ok(()),
            Some(missing) => Err(refused(
                FORBIDDEN,
                format!(
                    "AwsAccount {} allows APIs tagged {}; {} {:?} ({}) {missing}",
                    self.account,
                    describe_tags(&self.required_tags),
                    api.kind.noun(),
                    api.name,
                    api.id
                ),
            )),
        }
    }

    /// A usage plan's throttle limits every API stage it serves, so every one of their APIs
    /// must be allowed. `apis` are the REST APIs of the account as listed.
    pub fn check_plan(&self, plan: &UsagePlan, apis: &[GuardedApi]) -> Result<(), AwsError> {
        for (api_id, stage) in &plan.api_stages {
            let problem = match apis.iter().find(|api| &api.id == api_id) {
                None => Some(format!("serves REST API {api_id}, which is not listed")),
                Some(api) => self.missing_tags(api).map(|missing| {
                    format!(
                        "serves stage {stage:?} of REST API {:?} ({api_id}), which {missing}",
                        api.name
                    )
                }),
            };
            if let Some(problem) = problem {
                return Err(refused(
                    FORBIDDEN,
                    format!(
                        "AwsAccount {} allows APIs tagged {}; usage plan {} {problem}",
                        self.account,
                        describe_tags(&self.required_tags),
                        plan.id
                    ),
                ));
            }
        }
        Ok(())
    }

    /// What the API lacks, as a phrase; `None` when it carries every required tag.
    fn missing_tags(&self, api: &GuardedApi) -> Option<String> {
        let missing: Vec<String> = self
            .required_tags
            .iter()
            .filter(|(key, value)| api.tags.get(*key) != Some(value))
            .map(|(key, value)| match api.tags.get(key) {
                Some(other) => format!("has {key}={other}, not {key}={value}"),
                None => format!("lacks tag {key}={value}"),
            })
            .collect();
        (!missing.is_empty()).then(|| missing.join(" and "))
    }
}

/// The identity a guard acts as, and the rules it acts under: an AwsAccount's role and
/// rules, or (for a guard naming none) the operator's own identity, unruled.
pub fn access(account: Option<&AwsAccount>) -> (Identity, Option<Tenancy>) {
    match account {
        None => (Identity::Own, None),
        Some(account) => (
            Identity::Role {
                arn: account.spec.role_arn.clone(),
                external_id: account.spec.external_id.clone(),
            },
            Some(Tenancy::of(account)),
        ),
    }
}

fn describe_tags(tags: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.join(",")
}

/// Whether what `guard` made is in the operator's own AWS account although its spec names an
/// AwsAccount now: it acted through the operator's own identity (its status has the API
/// resolved and no account reached through a role), and `spec.account` was added since.
pub fn acted_as_own(guard: &ApiGatewayGuard) -> bool {
    guard.spec.account.is_some()
        && guard
            .status
            .as_ref()
            .is_some_and(|s| s.api_id.is_some() && s.account_id.is_none())
}

/// The AwsAccount whose identity made what `guard` made: its `spec.account`, or none (the
/// operator's own identity) for a guard that [`acted_as_own`]. A delete cleans up there.
pub fn made_through(guard: &ApiGatewayGuard) -> Option<&str> {
    match acted_as_own(guard) {
        true => None,
        false => guard.spec.account.as_deref(),
    }
}

/// The refusal of a guard whose `spec.account` names no AwsAccount; it recovers when the
/// account appears.
pub fn account_not_found(name: &str) -> AwsError {
    refused(
        ACCOUNT_NOT_FOUND,
        format!("no AwsAccount {name:?}; create it (kubectl get awsaccounts lists them)"),
    )
}

/// The account must select the guard's namespace by its labels.
pub fn check_namespace(
    account: &AwsAccount,
    namespace: &str,
    labels: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    let selector = selector(&account.spec.namespace_selector);
    match selector.matches(labels) {
        true => Ok(()),
        false => Err(refused(
            FORBIDDEN,
            format!(
                "AwsAccount {}'s namespaceSelector ({}) does not select namespace {namespace}",
                kube::ResourceExt::name_any(account),
                describe_selector(&selector)
            ),
        )),
    }
}

fn selector(spec: &NamespaceSelector) -> Selector {
    let requirements = spec
        .match_expressions
        .iter()
        .map(|r| LabelSelectorRequirement {
            key: r.key.clone(),
            operator: format!("{:?}", r.operator),
            values: Some(r.values.clone()),
        })
        .collect();
    let selector = LabelSelector {
        match_labels: Some(spec.match_labels.clone()),
        match_expressions: Some(requirements),
    };
    // The CRD's schema admits only operators and values that convert.
    Selector::try_from(selector).unwrap_or_else(|_| {
        Selector::from_iter([Expression::Exists(
            "apigw-guard.dev/unparsable-selector".into(),
        )])
    })
}

fn describe_selector(selector: &Selector) -> String {
    match selector.selects_all() {
        true => "every namespace".to_owned(),
        false => selector.to_string(),
    }
}

/// Which namespaces' guards may act through the operator's own identity (guards without
/// `spec.account`): `--own-identity-namespaces`.
#[derive(Clone, Debug)]
pub enum OwnIdentity {
    /// Every namespace: a cluster without AwsAccounts works as it did before them.
    All,
    /// No namespace: every guard must name an AwsAccount.
    None,
    /// The namespaces whose labels this selects.
    Selected(Selector),
}

impl std::str::FromStr for OwnIdentity {
    type Err = String;

    /// `all`, `none`, or a label selector of `key=value`, `key!=value`, `key` and `!key`
    /// terms joined by commas (all must hold), e.g. `team=platform,!restricted`.
    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim() {
            "all" => return Ok(OwnIdentity::All),
            "none" => return Ok(OwnIdentity::None),
            _ => {}
        }
        let terms = text
            .split(',')
            .map(|term| {
                let term = term.trim();
                let key_ok = |key: &str| {
                    !key.is_empty()
                        && key
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
                };
                let expression = match (term.split_once("!="), term.split_once('=')) {
                    (Some((k, v)), _) => Expression::NotEqual(k.trim().into(), v.trim().into()),
                    (None, Some((k, v))) => Expression::Equal(k.trim().into(), v.trim().into()),
                    (None, None) => match term.strip_prefix('!') {
                        Some(k) => Expression::DoesNotExist(k.trim().into()),
                        None => Expression::Exists(term.into()),
                    },
                };
                let key = match &expression {
                    Expression::NotEqual(k, _)
                    | Expression::Equal(k, _)
                    | Expression::DoesNotExist(k)
                    | Expression::Exists(k) => k.clone(),
                    Expression::In(k, _) | Expression::NotIn(k, _) => k.clone(),
                };
                match key_ok(&key) {
                    true => Ok(expression),
                    false => Err(format!(
                        "{text:?}: expected all, none, or a label selector such as \
                         team=platform,!restricted (term {term:?})"
                    )),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(OwnIdentity::Selected(Selector::from_iter(terms)))
    }
}

impl OwnIdentity {
    /// Whether a guard in `namespace` (with `labels`) may act through the operator's own
    /// identity.
    pub fn check(
        &self,
        namespace: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        let refusal = |rule: String| {
            Err(refused(
                FORBIDDEN,
                format!(
                    "guards without spec.account use the operator's own AWS identity, which \
                     {rule}; name an AwsAccount that selects namespace {namespace}"
                ),
            ))
        };
        match self {
            OwnIdentity::All => Ok(()),
            OwnIdentity::None => {
                refusal("no namespace may use (--own-identity-namespaces=none)".to_owned())
            }
            OwnIdentity::Selected(selector) if selector.matches(labels) => Ok(()),
            OwnIdentity::Selected(selector) => refusal(format!(
                "only namespaces selected by {selector} may use (--own-identity-namespaces)"
            )),
        }
    }
}

#[cfg(test)]
mod tests;
