//! Planner throughput: plans per second over 1,000 guards, pure CPU (no AWS).
//! Run: `cargo bench --bench plan`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use apigw_guard::core::crd::ApiGatewayGuardSpec;
use apigw_guard::core::model::{
    GuardId, GuardedApi, MethodSettings, Observed, StageSettings, UsagePlan,
};
use apigw_guard::core::plan::plan;

const GUARDS: usize = 1_000;

fn spec(i: usize) -> ApiGatewayGuardSpec {
    serde_yaml::from_str(&format!(
        "restApi: {{name: api-{i}}}\nstage: prod\ntracing: {{enabled: true}}\n\
         executionLogging: {{level: ERROR, detailedMetrics: true}}\n\
         throttle: {{usagePlan: {{name: plan-{i}}}, rateLimit: 100, burstLimit: 200}}\n\
         stageThrottle: {{rateLimit: 500, burstLimit: 250}}\n\
         alarms: {{actions: ['arn:aws:sns:us-east-1:123456789012:oncall']}}"
    ))
    .expect("bench spec parses")
}

fn fresh(i: usize) -> Observed {
    Observed {
        api: GuardedApi {
            kind: apigw_guard::core::model::ApiKind::Rest,
            id: format!("id{i}"),
            name: format!("api-{i}"),
            tags: Default::default(),
        },
        stage: StageSettings {
            tracing_enabled: Some(false),
            all_methods: MethodSettings::default(),
            ..Default::default()
        },
        usage_plan: Some(Ok(UsagePlan {
            id: format!("up{i}"),
            rate_limit: None,
            burst_limit: None,
            api_stages: vec![(format!("id{i}"), "prod".to_owned())],
        })),
        cloudwatch_role_arn: Some("arn:aws:iam::123456789012:role/logs".to_owned()),
        alarms: Vec::new(),
        region: "us-east-1".to_owned(),
        dashboard: None,
        log_group: None,
        route_keys: None,
    }
}

/// Plans every guard repeatedly for about `budget`; returns plans per second.
fn measure(guards: &[(GuardId, ApiGatewayGuardSpec, Observed)], budget: Duration) -> (f64, usize) {
    let started = Instant::now();
    let mut plans = 0;
    let mut actions = 0;
    while started.elapsed() < budget {
        for (id, spec, observed) in guards {
            actions += black_box(plan(id, spec, observed)).actions.len();
            plans += 1;
        }
    }
    (
        plans as f64 / started.elapsed().as_secs_f64(),
        actions / plans.max(1),
    )
}

fn main() {
    let guards: Vec<(GuardId, ApiGatewayGuardSpec, Observed)> = (0..GUARDS)
        .map(|i| {
            let id = GuardId {
                namespace: "bench".to_owned(),
                name: format!("g{i}"),
            };
            (id, spec(i), fresh(i))
        })
        .collect();
    let (cold, cold_actions) = measure(&guards, Duration::from_secs(2));
    println!(
        "plan, cold (every control to write): {cold:>12.0} plans/s, {cold_actions} actions each"
    );
    println!("over {GUARDS} guards; one plan takes {:.1} us", 1e6 / cold);
}
