//! The two scopes of one pipeline, against one table of cases: a guard reconciled by the
//! operator in a cluster (`k8s::tenants::Cluster`) and by the CLI from a file (`cli::File`)
//! runs `reconcile::guard` either way, and the table says where their decisions agree and
//! names where they differ, case by case.

use crate::support;

use apigw_guard::aws::{CallLog, RegionalClients};
use apigw_guard::cli::File;
use apigw_guard::core::crd::{ApiGatewayGuard, ApiGatewayGuardPolicy, AwsAccount};
use apigw_guard::core::model::{ApiKind, GuardedApi};
use apigw_guard::core::policy::Matched;
use apigw_guard::core::report::Report;
use apigw_guard::core::tenancy::OwnIdentity;
use apigw_guard::k8s::tenants::{Cluster, Tenants};
use apigw_guard::reconcile;
use apigw_guard::reconcile::Mode;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use support::REGION;

/// One case: the file's (and the cluster's) AwsAccounts and guards, oldest first; the guard
/// judged is the last. What it comes to in each scope: `Ok` (it may act) or the reason it
/// was refused.
struct Case {
    name: &'static str,
    accounts: Vec<String>,
    guards: Vec<String>,
    cluster: Result<(), &'static str>,
    file: Result<(), &'static str>,
}

fn guard(namespace: &str, name: &str, api: &str, account: Option<&str>) -> String {
    let account = account.map_or(String::new(), |a| format!("\n  account: {a}"));
    format!(
        "apiVersion: apigw-guard.dev/v1alpha1
kind: ApiGatewayGuard
metadata: {{name: {name}, namespace: {namespace}, uid: {namespace}-{name}}}
spec:
  region: {REGION}
  restApi: {{name: {api}}}
  stage: prod
  tracing: {{enabled: true}}{account}
"
    )
}

/// What a report comes to: acting, or the reason it was refused.
fn verdict(report: &Report) -> Result<(), String> {
    match &report.observed {
        Ok(_) => Ok(()),
        Err(err) => Err(err.source.code.clone()),
    }
}

fn store<K>(objects: &[K]) -> Store<K>
where
    K: kube::Resource<DynamicType = ()> + Clone,
{
    let (store, mut writer) = reflector::store();
    writer.apply_watcher_event(&watcher::Event::Init);
    for object in objects {
        writer.apply_watcher_event(&watcher::Event::InitApply(object.clone()));
    }
    writer.apply_watcher_event(&watcher::Event::InitDone);
    store
}

/// The namespaces of the table: `team-a` labelled for team a, `other` not.
fn namespaces() -> Vec<PartialObjectMeta<Namespace>> {
    [("team-a", Some("a")), ("other", None)]
        .into_iter()
        .map(|(name, team)| {
            let mut ns = PartialObjectMeta::<Namespace>::default();
            ns.metadata.name = Some(name.to_owned());
            ns.metadata.labels = team.map(|t| [("team".to_owned(), t.to_owned())].into());
            ns
        })
        .collect()
}

/// The case's AwsAccounts and guards, as read from its documents.
fn parsed(case: &Case) -> (Vec<AwsAccount>, Vec<ApiGatewayGuard>) {
    (documents(&case.accounts), documents(&case.guards))
}

fn documents<K: serde::de::DeserializeOwned>(docs: &[String]) -> Vec<K> {
    docs.iter()
        .map(|d| serde_yaml::from_str(d).unwrap())
        .collect()
}

async fn in_cluster(regional: &RegionalClients, case: &Case) -> Result<(), String> {
    let (accounts, mut guards) = parsed(case);
    // Created one after another, in the table's order.
    for (i, guard) in guards.iter_mut().enumerate() {
        let at = k8s_openapi::jiff::Timestamp::from_second(1_000 + i as i64).unwrap();
        guard.metadata.creation_timestamp = Some(Time(at));
    }
    let tenants = Tenants::new(store(&accounts), store(&namespaces()), OwnIdentity::All);
    let guard_store = store(&guards);
    let scope = Cluster {
        tenants: &tenants,
        guards: &guard_store,
        aws: regional,
    };
    let judged = guards.last().unwrap();
    verdict(&reconcile::guard(&scope, regional, judged, Mode::Plan, &CallLog::default()).await)
}

async fn from_file(regional: &RegionalClients, case: &Case) -> Result<(), String> {
    let (accounts, guards) = parsed(case);
    let scope = File::of(regional, &guards, &accounts).await;
    let judged = guards.last().unwrap();
    verdict(&reconcile::guard(&scope, regional, judged, Mode::Plan, &CallLog::default()).await)
}

#[tokio::test]
async fn a_cluster_and_a_file_decide_alike_but_where_the_table_names_why_not() {
    let (team, elsewhere) = ("333300000003", "444400000004");
    let own = support::config(REGION).await;
    let in_team = support::config_in(team, REGION).await;
    let in_elsewhere = support::config_in(elsewhere, REGION).await;
    // The same API name in the operator's own account and in the team's.
    support::seed_api(&own, "scopes-api", "prod").await;
    let api = support::seed_api(&in_team, "scopes-api", "prod").await;
    support::tag_api(&in_team, &api, &[("team", "a")]).await;
    let untagged = support::seed_api(&in_team, "scopes-untagged", "prod").await;
    support::tag_api(&in_team, &untagged, &[("team", "z")]).await;
    support::seed_api(&in_elsewhere, "scopes-api", "prod").await;
    let regional = support::unlimited_clients(&own);
    let team_a = support::aws_account_yaml(
        "team-a",
        team,
        "{matchLabels: {team: a}}",
        "  restApis: {tags: {team: a}}",
    );
    let anywhere = support::aws_account_yaml("anywhere", team, "{}", "");
    let other_account = support::aws_account_yaml("elsewhere", elsewhere, "{}", "");
    let cases = [
        Case {
            name: "the operator's own identity, alone on its stage",
            accounts: vec![],
            guards: vec![guard("other", "g", "scopes-api", None)],
            cluster: Ok(()),
            file: Ok(()),
        },
        Case {
            name: "an AwsAccount neither has",
            accounts: vec![],
            guards: vec![guard("team-a", "g", "scopes-api", Some("missing"))],
            cluster: Err("AccountNotFound"),
            file: Err("AccountNotFound"),
        },
        Case {
            name: "an API without the tags the account requires",
            accounts: vec![team_a.clone()],
            guards: vec![guard("team-a", "g", "scopes-untagged", Some("team-a"))],
            cluster: Err("Forbidden"),
            file: Err("Forbidden"),
        },
        Case {
            name: "an account whose namespaceSelector leaves the guard's namespace out: a file \
                   has no namespaces, so only the cluster refuses",
            accounts: vec![team_a.clone()],
            guards: vec![guard("other", "g", "scopes-api", Some("team-a"))],
            cluster: Err("Forbidden"),
            file: Ok(()),
        },
        Case {
            name: "a second guard of a stage yields to the first (older, or earlier in the file)",
            accounts: vec![team_a.clone()],
            guards: vec![
                guard("team-a", "first", "scopes-api", Some("team-a")),
                guard("team-a", "second", "scopes-api", Some("team-a")),
            ],
            cluster: Err("Conflict"),
            file: Err("Conflict"),
        },
        Case {
            name: "two AwsAccounts whose roles reach one account reach one stage",
            accounts: vec![team_a.clone(), anywhere.clone()],
            guards: vec![
                guard("team-a", "first", "scopes-api", Some("team-a")),
                guard("team-a", "second", "scopes-api", Some("anywhere")),
            ],
            cluster: Err("Conflict"),
            file: Err("Conflict"),
        },
        Case {
            name: "the same API name in two accounts is two stages",
            accounts: vec![team_a.clone(), other_account],
            guards: vec![
                guard("team-a", "first", "scopes-api", Some("team-a")),
                guard("team-a", "second", "scopes-api", Some("elsewhere")),
            ],
            cluster: Ok(()),
            file: Ok(()),
        },
        Case {
            name: "a first guard that may not act claims nothing",
            accounts: vec![team_a],
            guards: vec![
                guard("team-a", "first", "scopes-api", Some("missing")),
                guard("team-a", "second", "scopes-api", Some("team-a")),
            ],
            cluster: Ok(()),
            file: Ok(()),
        },
    ];
    let mut wrong = Vec::new();
    for case in &cases {
        let cluster = in_cluster(&regional, case).await;
        let file = from_file(&regional, case).await;
        let expected = |e: Result<(), &str>| e.map_err(str::to_owned);
        if cluster != expected(case.cluster) || file != expected(case.file) {
            wrong.push(format!(
                "{}: cluster {cluster:?} (expected {:?}), file {file:?} (expected {:?})",
                case.name, case.cluster, case.file
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// One case of what a policy covers: whether the case's guard (in namespace `team-a` unless
/// its document says otherwise) holds a stage the policy (in the operator's own region,
/// through `policy_account`) matched, so the policy writes no guard of its own for it.
struct Held {
    name: &'static str,
    accounts: Vec<String>,
    guard: String,
    policy_account: Option<&'static str>,
    cluster: bool,
    file: bool,
}

fn policy(account: Option<&str>) -> ApiGatewayGuardPolicy {
    let account = account.map_or(String::new(), |a| format!("  account: {a}\n"));
    serde_yaml::from_str(&format!(
        "apiVersion: apigw-guard.dev/v1alpha1
kind: ApiGatewayGuardPolicy
metadata: {{name: fleet, namespace: team-a}}
spec:
  region: {REGION}
{account}  selector: {{restApiNames: ['scopes-*'], stages: [prod]}}
  template: {{alarms: {{}}}}
"
    ))
    .unwrap()
}

#[tokio::test]
async fn a_cluster_and_a_file_say_alike_which_guard_holds_a_policy_s_stage_but_where_named() {
    let team = "333300000005";
    let own_config = support::config(REGION).await;
    let in_team = support::config_in(team, REGION).await;
    let tagged = support::seed_api(&in_team, "scopes-held", "prod").await;
    support::tag_api(&in_team, &tagged, &[("team", "a")]).await;
    let regional = support::unlimited_clients(&own_config);
    let team_a = support::aws_account_yaml(
        "team-a",
        team,
        "{matchLabels: {team: a}}",
        "  restApis: {tags: {team: a}}",
    );
    let picky = support::aws_account_yaml("picky", team, "{}", "  restApis: {tags: {team: z}}");
    let own = Tenants::new(store(&[]), store(&namespaces()), OwnIdentity::All)
        .own_account(&regional)
        .await;
    let into_own = support::aws_account_yaml("into-own", &own, "{}", "");
    let stage = Matched {
        api: GuardedApi {
            kind: ApiKind::Rest,
            id: tagged,
            name: "scopes-held".to_owned(),
            tags: [("team".to_owned(), "a".to_owned())].into(),
        },
        stage: "prod".to_owned(),
    };
    let in_region = |namespace, account| guard(namespace, "explicit", "scopes-held", account);
    let cases = [
        Held {
            name: "a guard through the account the policy reaches holds its stage",
            accounts: vec![team_a.clone()],
            guard: in_region("team-a", Some("team-a")),
            policy_account: Some("team-a"),
            cluster: true,
            file: true,
        },
        Held {
            name: "a guard whose role reaches the account of the policy's own identity",
            accounts: vec![into_own],
            guard: in_region("team-a", Some("into-own")),
            policy_account: None,
            cluster: true,
            file: true,
        },
        Held {
            name: "a guard through another account holds nothing of the policy's",
            accounts: vec![team_a.clone()],
            guard: in_region("team-a", None),
            policy_account: Some("team-a"),
            cluster: false,
            file: false,
        },
        Held {
            name: "a guard whose account's tenancy refuses the API claims nothing",
            accounts: vec![team_a.clone(), picky],
            guard: in_region("team-a", Some("picky")),
            policy_account: Some("team-a"),
            cluster: false,
            file: false,
        },
        Held {
            name: "a guard in a namespace its account does not select: a file has no \
                   namespaces, so only the cluster says it claims nothing",
            accounts: vec![team_a.clone()],
            guard: in_region("other", Some("team-a")),
            policy_account: Some("team-a"),
            cluster: false,
            file: true,
        },
        Held {
            name: "a guard in another region",
            accounts: vec![team_a],
            guard: in_region("team-a", Some("team-a"))
                .replace(&format!("region: {REGION}"), "region: eu-central-1"),
            policy_account: Some("team-a"),
            cluster: false,
            file: false,
        },
    ];
    let mut wrong = Vec::new();
    for case in &cases {
        let accounts: Vec<AwsAccount> = documents(&case.accounts);
        let guards: Vec<ApiGatewayGuard> = documents(std::slice::from_ref(&case.guard));
        let policy = policy(case.policy_account);
        let tenants = Tenants::new(store(&accounts), store(&namespaces()), OwnIdentity::All);
        let guard_store = store(&guards);
        let cluster = Cluster {
            tenants: &tenants,
            guards: &guard_store,
            aws: &regional,
        };
        let in_cluster = reconcile::holds(&cluster, &regional, &policy, &own)(&guards[0], &stage);
        let file = File::reading(&accounts);
        let from_file = reconcile::holds(&file, &regional, &policy, &own)(&guards[0], &stage);
        if (in_cluster, from_file) != (case.cluster, case.file) {
            wrong.push(format!(
                "{}: cluster {in_cluster} (expected {}), file {from_file} (expected {})",
                case.name, case.cluster, case.file
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
