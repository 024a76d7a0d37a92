//! Many accounts against the local AWS, which keeps accounts apart by the account of the
//! role assumed (STS AssumeRole): each guard lands in its AwsAccount's account only, tenancy
//! refusals write nothing, quotas are kept per account, and credentials are refreshed.

use crate::support;

use std::time::Duration;

use apigw_guard::aws::{CallLog, Limit, Quota, RateLimits, RegionalClients};
use apigw_guard::core::crd::{ApiGatewayGuard, AwsAccount};
use apigw_guard::core::model::GuardId;
use apigw_guard::core::tenancy::{self, Tenancy};
use apigw_guard::reconcile::Mode;
use apigw_guard::reconcile::reconcile_claimed;
use support::REGION;

fn account(name: &str, id: &str, tags: &str) -> String {
    support::aws_account_yaml(name, id, "{}", tags)
}

fn guard(namespace: &str, name: &str, account: &str, api: &str, extra: &str) -> String {
    format!(
        "apiVersion: apigw-guard.dev/v1alpha1
kind: ApiGatewayGuard
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  region: {REGION}
  account: {account}
  restApi: {{name: {api}}}
  stage: prod
  tracing: {{enabled: true}}
  alarms: {{}}
{extra}"
    )
}

fn guards_status(stdout: &str) -> Vec<ApiGatewayGuard> {
    stdout
        .split("---\n")
        .filter(|doc| !doc.trim().is_empty())
        .map(|doc| serde_yaml::from_str(doc).unwrap())
        .collect()
}

fn condition(guard: &ApiGatewayGuard, type_: &str) -> (String, String, String) {
    support::guard_condition(guard, type_).unwrap()
}

#[tokio::test]
async fn each_guard_lands_in_its_accounts_account_and_refusals_write_nothing() {
    let (a, b) = ("111100000001", "222200000002");
    let in_a = support::config_in(a, REGION).await;
    let in_b = support::config_in(b, REGION).await;
    let own = support::config(REGION).await;
    // The same API name in both accounts, tagged for its team.
    let shop_a = support::seed_api(&in_a, "shop-api", "prod").await;
    let shop_b = support::seed_api(&in_b, "shop-api", "prod").await;
    assert_ne!(shop_a, shop_b);
    support::tag_api(&in_a, &shop_a, &[("team", "a")]).await;
    support::tag_api(&in_b, &shop_b, &[("team", "b")]).await;
    // In account A, an API that is not team a's, and a plan serving both.
    let other_a = support::seed_api(&in_a, "other-api", "prod").await;
    support::tag_api(&in_a, &other_a, &[("team", "z")]).await;
    let plan = support::seed_usage_plan(&in_a, "mixed-plan", &shop_a, "prod").await;
    aws_sdk_apigateway::Client::new(&in_a)
        .update_usage_plan()
        .usage_plan_id(&plan)
        .patch_operations(
            aws_sdk_apigateway::types::PatchOperation::builder()
                .op(aws_sdk_apigateway::types::Op::Add)
                .path("/apiStages")
                .value(format!("{other_a}:prod"))
                .build(),
        )
        .send()
        .await
        .unwrap();

    let tagged = |team: &str| format!("  restApis: {{tags: {{team: {team}}}}}\n");
    let file = [
        account("acct-a", a, &tagged("a")),
        account("acct-b", b, &tagged("b")),
        guard("team-a", "shop", "acct-a", "shop-api", ""),
        guard("team-b", "shop", "acct-b", "shop-api", ""),
        guard("team-c", "other", "acct-a", "other-api", ""),
        guard(
            "team-a",
            "plan",
            "acct-a",
            "shop-api",
            "  throttle: {usagePlan: {name: mixed-plan}, rateLimit: 1, burstLimit: 1}\n",
        ),
        guard("team-d", "lost", "acct-gone", "shop-api", ""),
    ]
    .join("---\n");
    let dir = std::env::temp_dir().join(format!("apigw-guard-accounts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("accounts.yaml");
    std::fs::write(&path, file).unwrap();

    let out = support::apigw_guard(&["reconcile", "--once", "-f", path.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "some guards are refused\n{stderr}"
    );
    let guards = guards_status(&stdout);
    assert_eq!(guards.len(), 5, "{stdout}");

    // Allowed: each lands in its own account and reports the account reached.
    for (guard, id) in [(&guards[0], a), (&guards[1], b)] {
        assert_eq!(condition(guard, "Ready").0, "True", "{stdout}{stderr}");
        assert_eq!(
            guard.status.as_ref().unwrap().account_id.as_deref(),
            Some(id)
        );
    }
    assert!(support::tracing_enabled(&in_a, &shop_a, "prod").await);
    assert!(support::tracing_enabled(&in_b, &shop_b, "prod").await);
    let alarms = |config| async move { support::alarm_names(config, "apigw-guard-team-").await };
    assert_eq!(
        alarms(&in_a).await,
        [
            "apigw-guard-team-a_shop_5xx",
            "apigw-guard-team-a_shop_integration-latency",
            "apigw-guard-team-a_shop_latency",
        ]
    );
    assert_eq!(
        alarms(&in_b).await,
        [
            "apigw-guard-team-b_shop_5xx",
            "apigw-guard-team-b_shop_integration-latency",
            "apigw-guard-team-b_shop_latency",
        ]
    );
    assert!(
        alarms(&own).await.is_empty(),
        "nothing in the operator's own account"
    );

    // Refused: an API without the team's tag, a plan that also serves another team's API, an
    // account that does not exist. None of them wrote anything.
    let (status, reason, message) = condition(&guards[2], "Stalled");
    assert_eq!((status.as_str(), reason.as_str()), ("True", "Forbidden"));
    assert!(
        message.contains("AwsAccount acct-a allows APIs tagged team=a; REST API \"other-api\""),
        "{message}"
    );
    assert!(!support::tracing_enabled(&in_a, &other_a, "prod").await);
    let (_, reason, message) = condition(&guards[3], "Stalled");
    assert_eq!(reason, "Forbidden");
    assert!(message.contains("usage plan"), "{message}");
    let throttle = aws_sdk_apigateway::Client::new(&in_a)
        .get_usage_plan()
        .usage_plan_id(&plan)
        .send()
        .await
        .unwrap();
    assert!(
        throttle.throttle().is_none(),
        "the shared plan is left alone"
    );
    assert_eq!(condition(&guards[4], "Stalled").1, "AccountNotFound");
    assert!(
        !stderr.contains("team-c/other: applied") && !stderr.contains("team-a/plan: applied"),
        "{stderr}"
    );
}

/// Clients for the local AWS with AWS's API Gateway quota cut to `per_second`.
fn limited_clients(config: &aws_config::SdkConfig, per_second: f64) -> RegionalClients {
    let fast = Limit {
        per_second: 1000.0,
        burst: 1000,
    };
    let limits = Quota::ALL.map(|quota| match quota {
        Quota::ApiGateway => (
            quota,
            Limit {
                per_second,
                burst: 1,
            },
        ),
        _ => (quota, fast),
    });
    RegionalClients::with_limits(config.clone(), std::sync::Arc::new(RateLimits::new(limits)))
}

fn parsed_account(name: &str, id: &str, tags: &str) -> AwsAccount {
    let text = account(name, id, tags);
    apigw_guard::cli::manifest::parse("t.yaml", &text)
        .unwrap()
        .accounts
        .remove(0)
}

fn parsed_guard(namespace: &str, name: &str, account: &str, api: &str) -> ApiGatewayGuard {
    let text = guard(namespace, name, account, api, "");
    apigw_guard::cli::manifest::parse("t.yaml", &text)
        .unwrap()
        .guards
        .remove(0)
}

async fn run(
    clients: &RegionalClients,
    account: &AwsAccount,
    guard: &ApiGatewayGuard,
) -> (
    apigw_guard::core::report::Report,
    Vec<apigw_guard::aws::Call>,
) {
    let (identity, tenancy): (_, Option<Tenancy>) = tenancy::access(Some(account));
    let calls = CallLog::default();
    let (apigateway, cloudwatch) = clients.clients(&identity, Some(REGION), &calls).await;
    let id = GuardId {
        namespace: guard.metadata.namespace.clone().unwrap(),
        name: guard.metadata.name.clone().unwrap(),
    };
    // Boxed: the whole reconcile future is too large for a test thread's stack.
    let report = Box::pin(reconcile_claimed(
        &apigateway,
        &cloudwatch,
        &id,
        &guard.spec,
        Mode::Apply,
        |_| None,
        tenancy.as_ref(),
    ))
    .await;
    (report, calls.snapshot())
}

#[tokio::test]
async fn a_tag_removed_in_aws_revokes_the_guard_before_its_next_write() {
    let id = "333300000003";
    let config = support::config_in(id, REGION).await;
    let api = support::seed_api(&config, "revoked-api", "prod").await;
    support::tag_api(&config, &api, &[("team", "r")]).await;
    let account = parsed_account("acct-r", id, "  restApis: {tags: {team: r}}\n");
    let guard = parsed_guard("team-r", "g", "acct-r", "revoked-api");
    // Listings are shared for an hour: only the fresh read before a write can see the change.
    let clients = support::unlimited_clients(&support::config(REGION).await)
        .share_reads_for(Duration::from_secs(3600));
    let (report, _) = run(&clients, &account, &guard).await;
    assert!(report.observed.is_ok(), "{:?}", report.observed);
    assert!(support::tracing_enabled(&config, &api, "prod").await);

    aws_sdk_apigateway::Client::new(&config)
        .untag_resource()
        .resource_arn(format!("arn:aws:apigateway:{REGION}::/restapis/{api}"))
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    support::disable_tracing_by_hand(&config, &api).await;
    let (report, calls) = run(&clients, &account, &guard).await;
    let err = report.observed.unwrap_err();
    assert_eq!(err.source.code, "Forbidden");
    assert!(err.source.message.contains("lacks tag team=r"), "{err}");
    assert!(
        calls.iter().all(|c| !c.write),
        "no write after the revocation: {calls:?}"
    );
    assert!(calls.iter().any(|c| c.operation == "GetRestApi"));
    assert!(!support::tracing_enabled(&config, &api, "prod").await);
}

#[tokio::test]
async fn a_throttled_account_never_slows_another() {
    let (slow, quick) = ("444400000004", "555500000005");
    for id in [slow, quick] {
        let config = support::config_in(id, REGION).await;
        support::seed_api(&config, "quota-api", "prod").await;
    }
    let slow_account = parsed_account("acct-slow", slow, "");
    let quick_account = parsed_account("acct-quick", quick, "");
    let guard = |account: &str| parsed_guard("team-q", account, account, "quota-api");
    // Two API Gateway calls a second, one at a time, in each account.
    let clients =
        limited_clients(&support::config(REGION).await, 2.0).share_reads_for(Duration::ZERO);
    // Use up the slow account's quota with a burst of reconciles.
    let slow_guard = guard("acct-slow");
    let busy = async {
        let mut waited = Duration::ZERO;
        for _ in 0..3 {
            let (_, calls) = run(&clients, &slow_account, &slow_guard).await;
            waited += calls.iter().map(|c| c.waited).sum::<Duration>();
        }
        waited
    };
    let quick_guard = guard("acct-quick");
    let other = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (report, calls) = run(&clients, &quick_account, &quick_guard).await;
        assert!(report.observed.is_ok(), "{:?}", report.observed);
        calls
    };
    let (slow_waited, quick_calls) = tokio::join!(busy, other);
    assert!(
        slow_waited >= Duration::from_secs(1),
        "the busy account waits for its quota ({slow_waited:?})"
    );
    let quick_waited: Duration = quick_calls
        .iter()
        .filter(|c| c.service == "apigateway")
        .map(|c| c.waited)
        .sum();
    // Its first call is free (the burst); each later one waits its own 0.5 s turn at most.
    let quick_gateway_calls = quick_calls
        .iter()
        .filter(|c| c.service == "apigateway")
        .count();
    assert!(
        quick_waited <= Duration::from_millis(500) * (quick_gateway_calls as u32),
        "the other account only waits its own turns ({quick_waited:?} for {quick_gateway_calls} calls)"
    );
    assert!(
        quick_calls
            .iter()
            .find(|c| c.service == "apigateway")
            .is_some_and(|c| c.waited.is_zero()),
        "the other account's first call goes at once: {quick_calls:?}"
    );
}

#[tokio::test]
async fn credentials_are_assumed_again_before_they_expire() {
    let id = "666600000006";
    let config = support::config_in(id, REGION).await;
    let api = support::seed_api(&config, "refresh-api", "prod").await;
    let proxy = support::fault_proxy::FaultProxy::start(support::endpoint()).await;
    // A zero delay on every AssumeRole: the proxy counts them and forwards them unchanged.
    proxy.inject(
        "AssumeRole",
        "",
        support::fault_proxy::Fault::Delay(Duration::ZERO),
        1000,
    );
    let through_proxy = support::config_at(
        REGION,
        &proxy.endpoint,
        aws_config::retry::RetryConfig::standard(),
    )
    .await;
    // 15 s sessions (real AWS's least is 15 min; the local AWS takes any): the SDK's identity
    // cache must assume the role again before they run out, within the same clients.
    let clients = support::unlimited_clients(&through_proxy)
        .share_reads_for(Duration::ZERO)
        .session_length(Duration::from_secs(15));
    let account = parsed_account("acct-refresh", id, "");
    let guard = parsed_guard("team-f", "g", "acct-refresh", "refresh-api");
    let assumed = || proxy.injected().len();
    let (report, _) = run(&clients, &account, &guard).await;
    assert!(report.observed.is_ok(), "{:?}", report.observed);
    assert_eq!(assumed(), 1, "one AssumeRole for the first reconcile");
    let (report, calls) = run(&clients, &account, &guard).await;
    assert!(report.observed.is_ok());
    assert_eq!(assumed(), 1, "the credentials are kept while they last");
    // In sync, an account's guard costs what any guard does: no write, the account id kept
    // from the first reconcile, and no fresh tag read, which only a write needs.
    let operations: Vec<&str> = calls.iter().map(|c| c.operation).collect();
    assert!(calls.iter().all(|c| !c.write), "{operations:?}");
    assert!(
        !operations.contains(&"GetCallerIdentity") && !operations.contains(&"GetRestApi"),
        "{operations:?}"
    );
    tokio::time::sleep(Duration::from_secs(16)).await;
    // The local AWS does not refuse expired credentials as AWS does (ExpiredToken), so the
    // proof is the new AssumeRole before the call, and a reconcile with no failure.
    support::disable_tracing_by_hand(&config, &api).await;
    let (report, calls) = run(&clients, &account, &guard).await;
    assert!(report.observed.is_ok(), "{:?}", report.observed);
    assert!(calls.iter().all(|c| c.ok), "{calls:?}");
    assert!(report.outcomes.iter().all(|o| o.result.is_ok()));
    assert_eq!(
        assumed(),
        2,
        "assumed again once the session neared its end"
    );
    assert!(support::tracing_enabled(&config, &api, "prod").await);
}

#[tokio::test]
async fn diagnose_reads_the_stage_in_the_account_of_the_role() {
    let id = "888800000008";
    let config = support::config_in(id, REGION).await;
    let api = support::seed_api(&config, "diagnosed-elsewhere-api", "prod").await;
    let role = support::role_in(id);
    let args = [
        "diagnose",
        "--api",
        "diagnosed-elsewhere-api",
        "--stage",
        "prod",
    ];
    let through_role =
        support::apigw_guard(&[&args[..], &["--role-arn", &role, "--external-id", "x-1"]].concat());
    let report = String::from_utf8_lossy(&through_role.stdout);
    assert!(
        through_role.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&through_role.stderr)
    );
    assert!(
        report.contains(&format!(
            "REST API diagnosed-elsewhere-api ({api}) stage prod"
        )),
        "{report}"
    );
    // The operator's own account has no such API; not found says where it looked.
    let own = support::apigw_guard(&args);
    assert!(!own.status.success());
    let said = String::from_utf8_lossy(&own.stderr);
    assert!(
        said.contains(&format!("(looked in region {REGION}, account "))
            && said.contains(" of the current AWS credentials)"),
        "{said}"
    );
    let missing = support::apigw_guard(
        &[
            &["diagnose", "--api", "no-such-api", "--stage", "prod"][..],
            &["--role-arn", &role],
        ]
        .concat(),
    );
    let said = String::from_utf8_lossy(&missing.stderr);
    assert!(
        said.contains(&format!(
            "no REST API named \"no-such-api\" (looked in region {REGION}, account {id} \
             through role {role})"
        )),
        "{said}"
    );
    let bad = support::apigw_guard(&[&args[..], &["--role-arn", "arn:aws:iam::1:role/x"]].concat());
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("--role-arn: \"arn:aws:iam::1:role/x\" is not an IAM role ARN"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

/// Two AwsAccounts whose roles are in one AWS account reach the same stages: the second
/// role's guard reads that account's listings as the first left them, while each role's
/// account is still asked of STS for itself (what tells a role that reached another account).
#[tokio::test]
async fn two_roles_in_one_account_share_its_listings() {
    let id = "444400000044";
    let config = support::config_in(id, REGION).await;
    support::seed_api(&config, "shared-role-one-api", "prod").await;
    support::seed_api(&config, "shared-role-two-api", "prod").await;
    let clients = support::unlimited_clients(&config).share_reads_for(Duration::from_secs(3600));
    let first = parsed_account("acct-share-1", id, "");
    let mut second = parsed_account("acct-share-2", id, "");
    second.spec.role_arn = format!("arn:aws:iam::{id}:role/apigw-guard-second");
    let one = parsed_guard("team-s", "one", "acct-share-1", "shared-role-one-api");
    let two = parsed_guard("team-t", "two", "acct-share-2", "shared-role-two-api");
    let (report, calls) = run(&clients, &first, &one).await;
    assert!(report.observed.is_ok(), "{:?}", report.observed);
    let listed = |calls: &[apigw_guard::aws::Call], op: &str| {
        calls.iter().filter(|c| c.operation == op).count()
    };
    assert_eq!(listed(&calls, "GetRestApis"), 1);
    let (report, calls) = run(&clients, &second, &two).await;
    assert!(report.observed.is_ok(), "{:?}", report.observed);
    assert_eq!(report.account_id.as_deref(), Some(id));
    assert_eq!(listed(&calls, "GetRestApis"), 0, "{calls:?}");
    assert_eq!(listed(&calls, "GetCallerIdentity"), 1, "{calls:?}");
}
