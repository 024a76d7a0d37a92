//! Client-side rate limits at AWS's documented quotas, shared by every guard, so the operator
//! never trips throttling on its own. The quotas are per account and region and shared with
//! every other caller, so the defaults are the most the operator may ever use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// A class of calls that one AWS quota limits. API Gateway v1 (REST APIs) and v2 (HTTP APIs)
/// calls share the management quota: one operation name may be either.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Quota {
    /// Every API Gateway management call: 10 requests/s, burst 40.
    ApiGateway,
    /// UpdateUsagePlan (and UpdateAccount): 1 request every 20 s, on top of `ApiGateway`.
    UsagePlanUpdate,
    /// CloudWatch PutMetricAlarm: 3/s.
    PutMetricAlarm,
    /// CloudWatch DeleteAlarms: 3/s.
    DeleteAlarms,
    /// CloudWatch DescribeAlarms: 9/s.
    DescribeAlarms,
    /// CloudWatch TagResource and ListTagsForResource: 10/s.
    CloudWatchTags,
    /// CloudWatch GetDashboard, PutDashboard, DeleteDashboards and ListDashboards: 10/s.
    Dashboards,
    /// CloudWatch Logs CreateLogGroup, DeleteLogGroup and PutRetentionPolicy (5/s each) and
    /// DescribeLogGroups (10/s): one bucket at the lowest, 5/s, so none of them can trip.
    LogGroups,
}

impl Quota {
    pub const ALL: [Quota; 8] = [
        Quota::ApiGateway,
        Quota::UsagePlanUpdate,
        Quota::PutMetricAlarm,
        Quota::DeleteAlarms,
        Quota::DescribeAlarms,
        Quota::CloudWatchTags,
        Quota::Dashboards,
        Quota::LogGroups,
    ];

    /// The name used by `--rate-limit NAME=RATE[/BURST]`.
    pub fn name(self) -> &'static str {
        match self {
            Quota::ApiGateway => "apigateway",
            Quota::UsagePlanUpdate => "apigateway-update-usage-plan",
            Quota::PutMetricAlarm => "cloudwatch-put-metric-alarm",
            Quota::DeleteAlarms => "cloudwatch-delete-alarms",
            Quota::DescribeAlarms => "cloudwatch-describe-alarms",
            Quota::CloudWatchTags => "cloudwatch-tags",
            Quota::Dashboards => "cloudwatch-dashboards",
            Quota::LogGroups => "logs-log-groups",
        }
    }

    /// AWS's documented quota: requests per second and burst.
    pub fn default_limit(self) -> Limit {
        match self {
            Quota::ApiGateway => Limit {
                per_second: 10.0,
                burst: 40,
            },
            Quota::UsagePlanUpdate => Limit {
                per_second: 0.05,
                burst: 1,
            },
            Quota::PutMetricAlarm | Quota::DeleteAlarms => Limit {
                per_second: 3.0,
                burst: 3,
            },
            Quota::DescribeAlarms => Limit {
                per_second: 9.0,
                burst: 9,
            },
            Quota::CloudWatchTags | Quota::Dashboards => Limit {
                per_second: 10.0,
                burst: 10,
            },
            Quota::LogGroups => Limit {
                per_second: 5.0,
                burst: 5,
            },
        }
    }

    /// The quotas one call of `operation` draws on.
    pub fn for_operation(operation: &str) -> &'static [Quota] {
        match operation {
            "UpdateUsagePlan" => &[Quota::ApiGateway, Quota::UsagePlanUpdate],
            "PutMetricAlarm" => &[Quota::PutMetricAlarm],
            "DeleteAlarms" => &[Quota::DeleteAlarms],
            "DescribeAlarms" => &[Quota::DescribeAlarms],
            // CloudWatch Logs' ListTagsForResource has the same name and its own quota; the
            // operation name alone cannot tell them apart, so both draw on CloudWatch's: one
            // bucket for two quotas only ever asks less of each.
            "TagResource" | "ListTagsForResource" => &[Quota::CloudWatchTags],
            "CreateLogGroup" | "DeleteLogGroup" | "PutRetentionPolicy" | "DescribeLogGroups" => {
                &[Quota::LogGroups]
            }
            "GetDashboard" | "PutDashboard" | "DeleteDashboards" | "ListDashboards" => {
                &[Quota::Dashboards]
            }
            // Quotas far above what is asked of them: one batched read a window, or a
            // handful by diagnose.
            "GetMetricData" | "FilterLogEvents" | "GetFunction" => &[],
            // Once per region and process, for the account id in alarm ARNs.
            "GetCallerIdentity" => &[],
            _ => &[Quota::ApiGateway],
        }
    }
}

/// A steady rate with a burst allowance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limit {
    pub per_second: f64,
    pub burst: u32,
}

impl std::str::FromStr for Limit {
    type Err = String;

    /// `RATE` or `RATE/BURST`, e.g. `5` or `0.05/1`.
    fn from_str(text: &str) -> Result<Self, String> {
        let (rate, burst) = text.split_once('/').unwrap_or((text, ""));
        let per_second: f64 = rate
            .parse()
            .ok()
            .filter(|r: &f64| r.is_finite() && *r > 0.0)
            .ok_or_else(|| format!("{rate:?} is not a rate above 0 (requests per second)"))?;
        let burst = match burst {
            "" => per_second.ceil().max(1.0) as u32,
            b => b
                .parse()
                .ok()
                .filter(|b: &u32| *b >= 1)
                .ok_or_else(|| format!("{b:?} is not a burst of 1 or more"))?,
        };
        Ok(Limit { per_second, burst })
    }
}

/// `NAME=RATE[/BURST]` for the `--rate-limit` flag.
pub fn parse_override(text: &str) -> Result<(Quota, Limit), String> {
    let (name, limit) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: expected NAME=RATE[/BURST]"))?;
    let quota = Quota::ALL
        .into_iter()
        .find(|q| q.name() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = Quota::ALL.iter().map(|q| q.name()).collect();
            format!("{name:?} is not one of {}", names.join(", "))
        })?;
    Ok((quota, limit.parse()?))
}

#[derive(Debug)]
struct Bucket {
    limit: Limit,
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    /// Takes a token now if there is one, else says how long until there is; a waiter
    /// reserves its token up front, so waiters are served in order.
    fn take(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens =
            (self.tokens + elapsed * self.limit.per_second).min(f64::from(self.limit.burst));
        self.updated = now;
        self.tokens -= 1.0;
        match self.tokens >= 0.0 {
            true => Duration::ZERO,
            false => Duration::from_secs_f64(-self.tokens / self.limit.per_second),
        }
    }
}

/// A call booked a turn too far ahead to wait for: its caller should come back then.
#[derive(Clone, Debug, PartialEq)]
pub struct Booked {
    /// Until the turn.
    pub wait: Duration,
    /// Turns booked before this one in the same account and region.
    pub ahead: usize,
    /// The slowest quota the call draws on.
    pub limit: Limit,
}

/// A booked turn not claimed this long after it came is forgotten (its guard went away).
const UNCLAIMED: Duration = Duration::from_secs(3600);

/// Token buckets per scope (an account's region: AWS keeps its quotas per account and region)
/// and quota, shared by all clients built from one configuration.
#[derive(Debug, Default)]
pub struct RateLimits {
    overrides: HashMap<Quota, Limit>,
    buckets: Mutex<HashMap<(String, Quota), Bucket>>,
    /// Turns booked by (scope, key).
    turns: Mutex<HashMap<(String, String), Instant>>,
}

impl RateLimits {
    /// The documented quotas, with `overrides` in their place where given.
    pub fn new(overrides: impl IntoIterator<Item = (Quota, Limit)>) -> Self {
        Self {
            overrides: overrides.into_iter().collect(),
            buckets: Mutex::default(),
            turns: Mutex::default(),
        }
    }

    fn limit(&self, quota: Quota) -> Limit {
        self.overrides
            .get(&quota)
            .copied()
            .unwrap_or_else(|| quota.default_limit())
    }

    /// Takes a token of every quota `operation` draws on; the wait until the last is due.
    fn take(&self, scope: &str, operation: &str, now: Instant) -> Duration {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        Quota::for_operation(operation)
            .iter()
            .map(|quota| {
                let limit = self.limit(*quota);
                buckets
                    .entry((scope.to_owned(), *quota))
                    .or_insert_with(|| Bucket {
                        limit,
                        tokens: f64::from(limit.burst),
                        updated: now,
                    })
                    .take(now)
            })
            .max()
            .unwrap_or_default()
    }

    /// Like [`Self::acquire`], for calls whose quota is so slow that waiting in line would
    /// hold a worker for minutes (UpdateUsagePlan: one every 20 s). The call for `key` (what
    /// it changes) gets a turn; a turn within `patience` is waited for, a later one stays
    /// booked for `key` and is returned, so the caller can do other work and come back then.
    pub async fn acquire_in_turn(
        &self,
        scope: &str,
        operation: &str,
        key: &str,
        patience: Duration,
    ) -> Result<Duration, Booked> {
        let now = Instant::now();
        let at = {
            let mut turns = self.turns.lock().unwrap_or_else(|p| p.into_inner());
            turns.retain(|_, at| now.saturating_duration_since(*at) < UNCLAIMED);
            let id = (scope.to_owned(), key.to_owned());
            let at = match turns.remove(&id) {
                Some(at) => at,
                None => now + self.take(scope, operation, now),
            };
            if at > now + patience {
                let ahead = turns
                    .iter()
                    .filter(|((s, _), other)| s == scope && **other < at)
                    .count();
                turns.insert(id, at);
                let limit = Quota::for_operation(operation)
                    .iter()
                    .map(|quota| self.limit(*quota))
                    .min_by(|a, b| a.per_second.total_cmp(&b.per_second))
                    .unwrap_or_else(|| Quota::ApiGateway.default_limit());
                return Err(Booked {
                    wait: at - now,
                    ahead,
                    limit,
                });
            }
            at
        };
        tokio::time::sleep_until(at).await;
        Ok(at.saturating_duration_since(now))
    }

    /// Takes `operation`'s tokens without waiting: it goes ahead of every call waiting in
    /// `scope`, which each wait one token longer. For the one call that must not queue (a
    /// rollback); AWS's own burst absorbs it, and the SDK retries if AWS throttles.
    pub fn acquire_first(&self, scope: &str, operation: &str) {
        let wait = self.take(scope, operation, Instant::now());
        if !wait.is_zero() {
            tracing::info!(
                scope,
                operation,
                ahead_ms = wait.as_millis() as u64,
                "sent ahead of the calls waiting for the AWS quota"
            );
        }
    }

    /// Waits until `operation` may be sent in `scope` under every quota it draws on.
    /// Returns how long it waited.
    pub async fn acquire(&self, scope: &str, operation: &str) -> Duration {
        let wait = self.take(scope, operation, Instant::now());
        if !wait.is_zero() {
            tracing::debug!(
                scope,
                operation,
                wait_ms = wait.as_millis() as u64,
                "waiting for the AWS quota"
            );
            tokio::time::sleep(wait).await;
        }
        wait
    }
}

/// Shared handle to the limits.
pub type SharedRateLimits = Arc<RateLimits>;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_rollback_goes_ahead_of_the_calls_waiting_for_the_quota() {
        let limits = RateLimits::new([]);
        let scope = "own/us-east-1";
        for _ in 0..40 {
            limits.acquire(scope, "GetStage").await;
        }
        // The burst is spent: a read now waits a tenth of a second, a rollback not at all.
        let start = Instant::now();
        limits.acquire_first(scope, "UpdateStage");
        assert_eq!(start.elapsed(), Duration::ZERO);
        // The call after it waits one token longer: the rollback took its place.
        let waited = limits.acquire(scope, "GetStage").await;
        assert_eq!(waited.as_millis(), 200);
    }

    #[tokio::test(start_paused = true)]
    async fn api_gateway_bursts_forty_then_ten_per_second() {
        let limits = RateLimits::new([]);
        let start = Instant::now();
        for _ in 0..40 {
            limits.acquire("own/us-east-1", "GetStage").await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "the burst is free");
        for _ in 0..20 {
            limits.acquire("own/us-east-1", "GetStage").await;
        }
        assert_eq!(
            start.elapsed().as_secs_f64().round(),
            2.0,
            "then 10 a second"
        );
        let other = Instant::now();
        limits.acquire("own/eu-west-1", "GetStage").await;
        assert_eq!(
            other.elapsed(),
            Duration::ZERO,
            "each region has its own quota"
        );
        limits.acquire("111122223333/us-east-1", "GetStage").await;
        assert_eq!(
            other.elapsed(),
            Duration::ZERO,
            "and so does each account: a throttled one never slows another"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn usage_plan_updates_go_one_every_twenty_seconds() {
        let limits = RateLimits::new([]);
        let start = Instant::now();
        for _ in 0..4 {
            limits.acquire("us-east-1", "UpdateUsagePlan").await;
        }
        assert_eq!(start.elapsed(), Duration::from_secs(60));
        let other = Instant::now();
        limits.acquire("us-east-1", "UpdateStage").await;
        assert_eq!(
            other.elapsed(),
            Duration::ZERO,
            "other calls do not queue behind them"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_far_turn_is_booked_and_kept_for_its_key() {
        let limits = RateLimits::new([]);
        let patience = Duration::from_secs(1);
        let turn = |key: &'static str| {
            limits.acquire_in_turn("us-east-1", "UpdateUsagePlan", key, patience)
        };
        assert_eq!(
            turn("a").await,
            Ok(Duration::ZERO),
            "the burst allows one now"
        );
        let b = turn("b").await.unwrap_err();
        let c = turn("c").await.unwrap_err();
        assert_eq!((b.wait, b.ahead), (Duration::from_secs(20), 0));
        assert_eq!((c.wait, c.ahead), (Duration::from_secs(40), 1));
        assert_eq!(c.limit.per_second, 0.05, "the slow quota is the one named");
        // Asking again before the turn costs no new turn.
        assert_eq!(turn("c").await.unwrap_err().wait, Duration::from_secs(40));
        tokio::time::advance(Duration::from_secs(39)).await;
        let start = Instant::now();
        assert_eq!(
            turn("c").await,
            Ok(Duration::from_secs(1)),
            "within patience of the turn: wait for it"
        );
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        // b's turn is still b's, and d queues after c.
        assert_eq!(turn("b").await, Ok(Duration::ZERO), "its turn has passed");
        assert_eq!(turn("d").await.unwrap_err().wait, Duration::from_secs(20));
    }

    #[tokio::test(start_paused = true)]
    async fn unclaimed_turns_are_forgotten_after_an_hour() {
        let limits = RateLimits::new([]);
        let patience = Duration::ZERO;
        let turn = |key: &'static str| {
            limits.acquire_in_turn("us-east-1", "UpdateUsagePlan", key, patience)
        };
        turn("a").await.unwrap();
        turn("gone").await.unwrap_err();
        tokio::time::advance(Duration::from_secs(2 * 3600)).await;
        assert_eq!(turn("a").await, Ok(Duration::ZERO));
        assert_eq!(limits.turns.lock().unwrap().len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn log_group_calls_share_one_bucket_at_five_a_second() {
        let limits = RateLimits::new([]);
        let start = Instant::now();
        for operation in [
            "DescribeLogGroups",
            "CreateLogGroup",
            "PutRetentionPolicy",
            "DeleteLogGroup",
            "DescribeLogGroups",
            "CreateLogGroup",
        ] {
            limits.acquire("own/us-east-1", operation).await;
        }
        assert_eq!(start.elapsed(), Duration::from_millis(200));
        let other = Instant::now();
        limits.acquire("own/us-east-1", "GetApis").await;
        assert_eq!(
            other.elapsed(),
            Duration::ZERO,
            "API Gateway's quota is apart"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn overrides_replace_the_defaults() {
        let limits = RateLimits::new([parse_override("cloudwatch-put-metric-alarm=1/1").unwrap()]);
        let start = Instant::now();
        for _ in 0..3 {
            limits.acquire("us-east-1", "PutMetricAlarm").await;
        }
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[test]
    fn overrides_parse_with_clear_errors() {
        assert_eq!(
            parse_override("apigateway=5/20").unwrap(),
            (
                Quota::ApiGateway,
                Limit {
                    per_second: 5.0,
                    burst: 20
                }
            )
        );
        assert_eq!(
            parse_override("apigateway-update-usage-plan=0.1")
                .unwrap()
                .1,
            Limit {
                per_second: 0.1,
                burst: 1
            }
        );
        assert!(
            parse_override("apigateway")
                .unwrap_err()
                .contains("NAME=RATE")
        );
        assert!(
            parse_override("s3=1")
                .unwrap_err()
                .contains("is not one of apigateway")
        );
        assert!(
            parse_override("apigateway=0")
                .unwrap_err()
                .contains("above 0")
        );
        assert!(
            parse_override("apigateway=1/0")
                .unwrap_err()
                .contains("burst")
        );
    }
}
