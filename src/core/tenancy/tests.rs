use std::collections::BTreeMap;

use super::*;
use crate::core::crd::{AwsAccountSpec, RestApiFilter, SelectorOperator, SelectorRequirement};

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn account(selector: NamespaceSelector, required: &[(&str, &str)]) -> AwsAccount {
    AwsAccount::new(
        "payments-prod",
        AwsAccountSpec {
            role_arn: "arn:aws:iam::111122223333:role/apigw-guard".to_owned(),
            external_id: Some("x-1".to_owned()),
            namespace_selector: selector,
            rest_apis: (!required.is_empty()).then(|| RestApiFilter {
                tags: tags(required),
            }),
        },
    )
}

fn api(id: &str, pairs: &[(&str, &str)]) -> GuardedApi {
    GuardedApi {
        kind: crate::core::model::ApiKind::Rest,
        id: id.to_owned(),
        name: format!("{id}-api"),
        tags: tags(pairs),
    }
}

fn payments() -> NamespaceSelector {
    NamespaceSelector {
        match_labels: tags(&[("team", "payments")]),
        match_expressions: Vec::new(),
    }
}

#[test]
fn the_namespace_selector_decides_who_may_use_an_account() {
    let account = account(payments(), &[]);
    assert!(check_namespace(&account, "pay", &tags(&[("team", "payments")])).is_ok());
    let refused = check_namespace(&account, "orders", &tags(&[("team", "orders")])).unwrap_err();
    assert_eq!(refused.code, FORBIDDEN);
    assert!(
        !refused.retryable,
        "only a change of labels or account can help"
    );
    assert_eq!(
        refused.message,
        "AwsAccount payments-prod's namespaceSelector (team=payments) does not select namespace orders"
    );
    let everyone = self::account(NamespaceSelector::default(), &[]);
    assert!(check_namespace(&everyone, "any", &BTreeMap::new()).is_ok());
    let expressions = self::account(
        NamespaceSelector {
            match_labels: BTreeMap::new(),
            match_expressions: vec![
                SelectorRequirement {
                    key: "team".to_owned(),
                    operator: SelectorOperator::In,
                    values: vec!["payments".to_owned(), "billing".to_owned()],
                },
                SelectorRequirement {
                    key: "restricted".to_owned(),
                    operator: SelectorOperator::DoesNotExist,
                    values: Vec::new(),
                },
            ],
        },
        &[],
    );
    assert!(check_namespace(&expressions, "b", &tags(&[("team", "billing")])).is_ok());
    assert!(
        check_namespace(
            &expressions,
            "b",
            &tags(&[("team", "billing"), ("restricted", "")])
        )
        .is_err()
    );
    assert!(check_namespace(&expressions, "o", &tags(&[("team", "orders")])).is_err());
}

#[test]
fn every_required_tag_must_be_on_the_api_with_its_value() {
    let tenancy = Tenancy::of(&account(
        payments(),
        &[("team", "payments"), ("env", "prod")],
    ));
    assert!(
        tenancy
            .check_api(&api(
                "a1",
                &[("team", "payments"), ("env", "prod"), ("x", "y")]
            ))
            .is_ok()
    );
    let err = tenancy
        .check_api(&api("a2", &[("team", "orders")]))
        .unwrap_err();
    assert_eq!(err.code, FORBIDDEN);
    assert_eq!(
        err.message,
        "AwsAccount payments-prod allows APIs tagged env=prod,team=payments; REST API \
         \"a2-api\" (a2) lacks tag env=prod and has team=orders, not team=payments"
    );
    // An HTTP API is held to the same tags.
    let http = |pairs| GuardedApi {
        kind: crate::core::model::ApiKind::Http,
        ..api("h1", pairs)
    };
    let err = tenancy.check_api(&http(&[("team", "orders")])).unwrap_err();
    assert_eq!(err.code, FORBIDDEN);
    assert!(
        err.message
            .contains("; HTTP API \"h1-api\" (h1) lacks tag env=prod"),
        "{}",
        err.message
    );
    assert!(
        tenancy
            .check_api(&http(&[("team", "payments"), ("env", "prod")]))
            .is_ok()
    );
    let open = Tenancy::of(&account(payments(), &[]));
    assert!(
        open.check_api(&api("a3", &[])).is_ok(),
        "no rule, no refusal"
    );
}

#[test]
fn a_usage_plan_is_allowed_only_when_it_serves_allowed_apis_alone() {
    let tenancy = Tenancy::of(&account(payments(), &[("team", "payments")]));
    let apis = [
        api("mine", &[("team", "payments")]),
        api("theirs", &[("team", "orders")]),
    ];
    let plan = |stages: &[&str]| UsagePlan {
        id: "plan1".to_owned(),
        rate_limit: None,
        burst_limit: None,
        api_stages: stages
            .iter()
            .map(|id| (id.to_string(), "prod".to_owned()))
            .collect(),
    };
    assert!(tenancy.check_plan(&plan(&["mine"]), &apis).is_ok());
    let err = tenancy
        .check_plan(&plan(&["mine", "theirs"]), &apis)
        .unwrap_err();
    assert!(
        err.message.contains(
            "usage plan plan1 serves stage \"prod\" of REST API \"theirs-api\" (theirs), which has team=orders"
        ),
        "{}",
        err.message
    );
    let err = tenancy.check_plan(&plan(&["gone"]), &apis).unwrap_err();
    assert!(err.message.contains("not listed"), "{}", err.message);
}

#[test]
fn a_role_must_reach_the_account_its_arn_names() {
    let tenancy = Tenancy::of(&account(payments(), &[]));
    assert!(tenancy.check_reached("111122223333").is_ok());
    let err = tenancy.check_reached("999999999999").unwrap_err();
    assert_eq!(err.code, ACCOUNT_MISMATCH);
    assert!(
        err.message.contains("acts in 999999999999"),
        "{}",
        err.message
    );
}

#[test]
fn access_is_the_accounts_role_or_the_operators_own_identity() {
    assert_eq!(access(None), (Identity::Own, None));
    let (identity, tenancy) = access(Some(&account(payments(), &[("team", "payments")])));
    assert_eq!(
        identity,
        Identity::Role {
            arn: "arn:aws:iam::111122223333:role/apigw-guard".to_owned(),
            external_id: Some("x-1".to_owned()),
        }
    );
    assert_eq!(
        tenancy.unwrap().required_tags,
        tags(&[("team", "payments")])
    );
    assert_eq!(account_not_found("gone").code, ACCOUNT_NOT_FOUND);
}

#[test]
fn own_identity_setting_parses_all_none_and_selectors() {
    let all: OwnIdentity = "all".parse().unwrap();
    assert!(all.check("any", &BTreeMap::new()).is_ok());
    let none: OwnIdentity = "none".parse().unwrap();
    let err = none.check("team-a", &BTreeMap::new()).unwrap_err();
    assert_eq!(err.code, FORBIDDEN);
    assert!(
        err.message.contains("--own-identity-namespaces=none"),
        "{}",
        err.message
    );
    let platform: OwnIdentity = "team=platform,!restricted".parse().unwrap();
    assert!(platform.check("p", &tags(&[("team", "platform")])).is_ok());
    assert!(
        platform
            .check("p", &tags(&[("team", "platform"), ("restricted", "1")]))
            .is_err()
    );
    let err = platform
        .check("o", &tags(&[("team", "orders")]))
        .unwrap_err();
    assert!(err.message.contains("namespace o"), "{}", err.message);
    let not: OwnIdentity = "tier!=prod".parse().unwrap();
    assert!(not.check("d", &tags(&[("tier", "dev")])).is_ok());
    assert!(not.check("p", &tags(&[("tier", "prod")])).is_err());
    assert!("team=a,,".parse::<OwnIdentity>().is_err());
    assert!("te am=a".parse::<OwnIdentity>().is_err());
}

#[test]
fn an_account_added_to_a_guard_of_the_own_identity_must_reach_the_own_account() {
    let spec = |account: &str| -> crate::core::crd::ApiGatewayGuardSpec {
        serde_yaml::from_str(&format!(
            "{account}restApi: {{name: orders-api}}\nstage: prod\n"
        ))
        .unwrap()
    };
    let status = |account_id: Option<&str>| crate::core::crd::ApiGatewayGuardStatus {
        api_id: Some("a1".to_owned()),
        account_id: account_id.map(str::to_owned),
        ..Default::default()
    };
    // Acted through the operator's own identity, then given an AwsAccount.
    let mut guard = ApiGatewayGuard::new("g", spec("account: payments-prod\n"));
    guard.status = Some(status(None));
    assert!(acted_as_own(&guard));
    assert_eq!(
        made_through(&guard),
        None,
        "its alarms are in the own account"
    );
    // Once it acted through the role, what it made is there.
    guard.status = Some(status(Some("111122223333")));
    assert!(!acted_as_own(&guard));
    assert_eq!(made_through(&guard), Some("payments-prod"));
    // Named from the start and never resolved: nothing made anywhere.
    guard.status = Some(crate::core::crd::ApiGatewayGuardStatus::default());
    assert!(!acted_as_own(&guard));
    // Without an account it is the own identity's anyway.
    let mut own = ApiGatewayGuard::new("g", spec(""));
    own.status = Some(status(None));
    assert!(!acted_as_own(&own));
    assert_eq!(made_through(&own), None);

    let tenancy = Tenancy::of(&account(payments(), &[]));
    assert!(tenancy.check_added(Some("111122223333")).is_ok());
    let elsewhere = tenancy.check_added(Some("444455556666")).unwrap_err();
    assert_eq!(elsewhere.code, ACCOUNT_MISMATCH);
    assert!(!elsewhere.retryable);
    for says in [
        "alarms live in the operator's own AWS account 444455556666",
        "AwsAccount payments-prod's role acts in 111122223333",
        "remove spec.account again",
    ] {
        assert!(elsewhere.message.contains(says), "{}", elsewhere.message);
    }
    assert!(!elsewhere.message.contains("old account"));
    let unknown = tenancy.check_added(None).unwrap_err();
    assert!(unknown.retryable, "asked again once STS answers");
}
