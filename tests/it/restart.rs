//! Restart safety: a reconcile killed between any two AWS calls, then run again, ends in the
//! same AWS state as an uninterrupted one, with no duplicate alarms.

use crate::support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use apigw_guard::aws::{ApiGateway, CallLog, CloudWatch, SdkApiGateway, SdkCloudWatch};
use apigw_guard::core::crd::{ApiGatewayGuardSpec, ResourceRef};
use apigw_guard::core::model::Identity;
use apigw_guard::core::model::{
    AlarmConfig, ApiKind, AwsError, GuardId, GuardedApi, ObjectiveMetrics, ObservedAlarm,
    ObservedLogGroup, PatchOp, StageKey, StageMetrics, StageSettings, Tag, UsagePlan,
};
use apigw_guard::reconcile::Mode;
use apigw_guard::reconcile::reconcile;
use aws_config::SdkConfig;
use support::REGION;

/// Passes calls through until the shared budget of writes is spent; from then on every call
/// fails, as if the process had died right there.
struct DiesAfter<T> {
    inner: T,
    writes_left: Arc<AtomicUsize>,
}

impl<T> DiesAfter<T> {
    fn alive(&self, write: bool) -> Result<(), AwsError> {
        let left = self.writes_left.load(Ordering::SeqCst);
        if left == 0 {
            return Err(AwsError::permanent(
                "Killed",
                "ProcessKilled",
                "the operator was killed here",
            ));
        }
        if write {
            self.writes_left.store(left - 1, Ordering::SeqCst);
        }
        Ok(())
    }
}

impl<A: ApiGateway> ApiGateway for DiesAfter<A> {
    async fn find_api(&self, kind: ApiKind, by: &ResourceRef) -> Result<GuardedApi, AwsError> {
        self.alive(false)?;
        self.inner.find_api(kind, by).await
    }
    async fn list_apis(&self, kind: ApiKind) -> Result<Vec<GuardedApi>, AwsError> {
        self.alive(false)?;
        self.inner.list_apis(kind).await
    }
    async fn stage_names(&self, kind: ApiKind, api_id: &str) -> Result<Vec<String>, AwsError> {
        self.alive(false)?;
        self.inner.stage_names(kind, api_id).await
    }
    async fn get_api(&self, kind: ApiKind, id: &str) -> Result<GuardedApi, AwsError> {
        self.alive(false)?;
        self.inner.get_api(kind, id).await
    }
    async fn get_stage(
        &self,
        kind: ApiKind,
        api_id: &str,
        stage: &str,
    ) -> Result<StageSettings, AwsError> {
        self.alive(false)?;
        self.inner.get_stage(kind, api_id, stage).await
    }
    async fn update_stage(
        &self,
        kind: ApiKind,
        api_id: &str,
        stage: &str,
        ops: &[PatchOp],
    ) -> Result<(), AwsError> {
        self.alive(true)?;
        self.inner.update_stage(kind, api_id, stage, ops).await
    }
    async fn roll_back_stage(
        &self,
        kind: ApiKind,
        api_id: &str,
        stage: &str,
        deployment_id: &str,
    ) -> Result<(), AwsError> {
        self.alive(true)?;
        self.inner
            .roll_back_stage(kind, api_id, stage, deployment_id)
            .await
    }
    async fn route_keys(&self, api_id: &str) -> Result<Vec<String>, AwsError> {
        self.alive(false)?;
        self.inner.route_keys(api_id).await
    }
    async fn deployment_made(
        &self,
        kind: ApiKind,
        api_id: &str,
        deployment_id: &str,
    ) -> Result<Option<i64>, AwsError> {
        self.alive(false)?;
        self.inner
            .deployment_made(kind, api_id, deployment_id)
            .await
    }
    async fn disable_access_logs(&self, api_id: &str, stage: &str) -> Result<(), AwsError> {
        self.alive(true)?;
        self.inner.disable_access_logs(api_id, stage).await
    }
    async fn find_usage_plan(&self, by: &ResourceRef) -> Result<UsagePlan, AwsError> {
        self.alive(false)?;
        self.inner.find_usage_plan(by).await
    }
    async fn update_usage_plan(&self, id: &str, ops: &[PatchOp]) -> Result<(), AwsError> {
        self.alive(true)?;
        self.inner.update_usage_plan(id, ops).await
    }
    async fn cloudwatch_role_arn(&self) -> Result<Option<String>, AwsError> {
        self.alive(false)?;
        self.inner.cloudwatch_role_arn().await
    }
}

impl<C: CloudWatch> CloudWatch for DiesAfter<C> {
    async fn describe_alarms(&self, names: &[String]) -> Result<Vec<ObservedAlarm>, AwsError> {
        self.alive(false)?;
        self.inner.describe_alarms(names).await
    }
    async fn list_tags(&self, arn: &str) -> Result<Vec<Tag>, AwsError> {
        self.alive(false)?;
        self.inner.list_tags(arn).await
    }
    async fn put_alarm(&self, alarm: &AlarmConfig, tags: &[Tag]) -> Result<(), AwsError> {
        self.alive(true)?;
        self.inner.put_alarm(alarm, tags).await
    }
    async fn tag_alarm(&self, arn: &str, tags: &[Tag]) -> Result<(), AwsError> {
        self.alive(true)?;
        self.inner.tag_alarm(arn, tags).await
    }
    async fn delete_alarms(&self, names: &[String]) -> Result<(), AwsError> {
        self.alive(true)?;
        self.inner.delete_alarms(names).await
    }
    async fn stage_metrics(&self, stage: &StageKey) -> Result<StageMetrics, AwsError> {
        self.alive(false)?;
        self.inner.stage_metrics(stage).await
    }
    async fn deployment_metrics(
        &self,
        stage: &StageKey,
        start: i64,
        length: i64,
    ) -> Result<(StageMetrics, StageMetrics), AwsError> {
        self.alive(false)?;
        self.inner.deployment_metrics(stage, start, length).await
    }
    async fn objective_metrics(
        &self,
        stage: &StageKey,
        window_days: i32,
    ) -> Result<Option<ObjectiveMetrics>, AwsError> {
        self.alive(false)?;
        self.inner.objective_metrics(stage, window_days).await
    }
    fn region(&self) -> &str {
        self.inner.region()
    }
    async fn account_id(&self) -> Result<String, AwsError> {
        self.alive(false)?;
        self.inner.account_id().await
    }
    async fn get_dashboard(&self, name: &str) -> Result<Option<String>, AwsError> {
        self.alive(false)?;
        self.inner.get_dashboard(name).await
    }
    async fn put_dashboard(&self, name: &str, body: &str) -> Result<(), AwsError> {
        self.alive(true)?;
        self.inner.put_dashboard(name, body).await
    }
    async fn delete_dashboards(&self, names: &[String]) -> Result<(), AwsError> {
        self.alive(true)?;
        self.inner.delete_dashboards(names).await
    }
    async fn log_group(&self, name: &str) -> Result<ObservedLogGroup, AwsError> {
        self.alive(false)?;
        self.inner.log_group(name).await
    }
    async fn create_log_group(
        &self,
        name: &str,
        retention_days: i32,
        tags: &[Tag],
    ) -> Result<(), AwsError> {
        self.alive(true)?;
        self.inner
            .create_log_group(name, retention_days, tags)
            .await
    }
    async fn put_retention(&self, name: &str, retention_days: i32) -> Result<(), AwsError> {
        self.alive(true)?;
        self.inner.put_retention(name, retention_days).await
    }
    async fn delete_log_group(&self, name: &str) -> Result<(), AwsError> {
        self.alive(true)?;
        self.inner.delete_log_group(name).await
    }
}

fn spec(name: &str) -> ApiGatewayGuardSpec {
    serde_yaml::from_str(&format!(
        "
restApi: {{name: {name}-api}}
stage: prod
tracing: {{enabled: true}}
executionLogging: {{level: INFO, dataTrace: true, detailedMetrics: true}}
throttle: {{usagePlan: {{name: {name}-plan}}, rateLimit: 300, burstLimit: 600}}
stageThrottle: {{rateLimit: 900, burstLimit: 450}}
alarms: {{actions: ['arn:aws:sns:{REGION}:123456789012:oncall']}}
dashboard: {{enabled: true}}
"
    ))
    .unwrap()
}

async fn clients(config: &SdkConfig) -> (SdkApiGateway, SdkCloudWatch) {
    support::unlimited_clients(config)
        .per_guard_clients(&Identity::Own, None, &CallLog::default())
        .await
}

/// What AWS holds for the guard, with the guard's own names replaced so runs compare.
async fn aws_state(config: &SdkConfig, name: &str) -> String {
    let (apigateway, cloudwatch) = clients(config).await;
    let api = apigateway
        .find_api(
            ApiKind::Rest,
            &ResourceRef {
                name: Some(format!("{name}-api")),
                id: None,
            },
        )
        .await
        .unwrap();
    let mut stage = apigateway
        .get_stage(ApiKind::Rest, &api.id, "prod")
        .await
        .unwrap();
    // Which deployment the stage serves is each run's own, and not the guard's to set.
    stage.deployment = None;
    let plan = apigateway
        .find_usage_plan(&ResourceRef {
            name: Some(format!("{name}-plan")),
            id: None,
        })
        .await
        .unwrap();
    let listed = aws_sdk_cloudwatch::Client::new(config)
        .describe_alarms()
        .alarm_name_prefix(format!("apigw-guard-restart_{name}_"))
        .send()
        .await
        .unwrap();
    let names: Vec<String> = listed
        .metric_alarms()
        .iter()
        .filter_map(|a| a.alarm_name())
        .map(str::to_owned)
        .collect();
    let mut alarms = Vec::new();
    for alarm in cloudwatch.describe_alarms(&names).await.unwrap() {
        let mut tags = cloudwatch.list_tags(&alarm.arn).await.unwrap();
        tags.sort();
        alarms.push(format!("{:?} {tags:?}", alarm.config));
    }
    alarms.sort();
    let dashboard = cloudwatch
        .get_dashboard(&format!("apigw-guard-restart_{name}"))
        .await
        .unwrap();
    format!(
        "{:?}\n{:?} {:?}\n{}\n{dashboard:?}",
        stage,
        plan.rate_limit,
        plan.burst_limit,
        alarms.join("\n")
    )
    .replace(&api.id, "API_ID")
    .replace(name, "NAME")
}

#[tokio::test]
async fn a_reconcile_killed_after_any_write_converges_on_restart() {
    let config = support::config(REGION).await;
    support::set_log_role(&config).await;

    // The uninterrupted run, and how many writes it makes.
    let reference = "uninterrupted";
    let api = support::seed_api(&config, &format!("{reference}-api"), "prod").await;
    support::seed_usage_plan(&config, &format!("{reference}-plan"), &api, "prod").await;
    let guard = |name: &str| GuardId {
        namespace: "restart".to_owned(),
        name: name.to_owned(),
    };
    let (apigateway, cloudwatch) = clients(&config).await;
    // Boxed, as every reconcile here: a test thread's stack is small, and the reconcile
    // future is not.
    let report = Box::pin(reconcile(
        &apigateway,
        &cloudwatch,
        &guard(reference),
        &spec(reference),
        Mode::Apply,
    ))
    .await;
    let writes = report.outcomes.len();
    assert_eq!(
        writes, 6,
        "UpdateStage, UpdateUsagePlan, 3 PutMetricAlarm, PutDashboard"
    );
    let expected = aws_state(&config, reference).await;

    for killed_after in 0..writes {
        let name = format!("killed{killed_after}");
        let api = support::seed_api(&config, &format!("{name}-api"), "prod").await;
        support::seed_usage_plan(&config, &format!("{name}-plan"), &api, "prod").await;
        let (apigateway, cloudwatch) = clients(&config).await;
        let budget = Arc::new(AtomicUsize::new(killed_after));
        let dying_apigateway = DiesAfter {
            inner: apigateway.clone(),
            writes_left: budget.clone(),
        };
        let dying_cloudwatch = DiesAfter {
            inner: cloudwatch.clone(),
            writes_left: budget,
        };
        let killed = Box::pin(reconcile(
            &dying_apigateway,
            &dying_cloudwatch,
            &guard(&name),
            &spec(&name),
            Mode::Apply,
        ))
        .await;
        let done = killed.outcomes.iter().filter(|o| o.result.is_ok()).count();
        assert_eq!(
            done, killed_after,
            "the kill came after {killed_after} writes"
        );

        let (id, wanted) = (guard(&name), spec(&name));
        let again = || {
            Box::pin(reconcile(
                &apigateway,
                &cloudwatch,
                &id,
                &wanted,
                Mode::Apply,
            ))
        };
        let restarted = again().await;
        assert!(
            restarted.plan.blockers.is_empty(),
            "{:?}",
            restarted.plan.blockers
        );
        assert!(restarted.outcomes.iter().all(|o| o.result.is_ok()));
        assert_eq!(
            restarted.outcomes.len(),
            writes - killed_after,
            "only the missing writes are made"
        );
        assert_eq!(
            aws_state(&config, &name).await,
            expected,
            "killed after {killed_after} writes"
        );

        assert!(
            again().await.outcomes.is_empty(),
            "in sync after the restart"
        );
    }
}
