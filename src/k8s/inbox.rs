//! The events inbox: long-polls the SQS queues that CloudTrail events (and CloudWatch alarm
//! state changes) reach through EventBridge, and has the guards and policies each event
//! concerns reconciled at once. Polling on the resync interval stays as the safety net.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::aws::SESSION_NAME;
use crate::core::cloudtrail::{self, Change};
use crate::core::crd::{ApiGatewayGuard, ApiGatewayGuardPolicy};
use crate::k8s::controller::{self, AwsEvent, EventsHealth};
use crate::k8s::policies;
use crate::k8s::telemetry::Metrics;

/// The longest wait SQS allows a ReceiveMessage: one call a queue every 20 s when idle.
const LONG_POLL_SECONDS: i32 = 20;
/// How long a poll that failed waits before the next.
const POLL_RETRY: Duration = Duration::from_secs(5);
/// How often the events' health is looked at, to fall back to (or return from) polling.
const HEALTH_CHECK: Duration = Duration::from_secs(10);

/// What the inbox reads and whom it tells.
pub struct Inbox {
    /// Each queue's URL and a client in its region.
    pub queues: Vec<(String, aws_sdk_sqs::Client)>,
    pub guards: Arc<controller::Context>,
    pub guard_store: Store<ApiGatewayGuard>,
    pub policies: Arc<policies::Context>,
    pub policy_store: Store<ApiGatewayGuardPolicy>,
    pub health: Arc<EventsHealth>,
    pub metrics: Arc<Metrics>,
}

/// The reconciles the inbox asks for: guards and policies by reference, and every guard at
/// once when events stop flowing (their next resync is an hour away).
pub struct Triggers {
    pub guards: BoxStream<'static, AwsEvent>,
    pub policies: BoxStream<'static, AwsEvent>,
    pub all_guards: BoxStream<'static, ()>,
}

impl Triggers {
    /// No events: nothing is ever triggered.
    pub fn none() -> Self {
        Self {
            guards: futures::stream::pending().boxed(),
            policies: futures::stream::pending().boxed(),
            all_guards: futures::stream::pending().boxed(),
        }
    }
}

fn receiver<T: Send + 'static>(rx: mpsc::UnboundedReceiver<T>) -> BoxStream<'static, T> {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|t| (t, rx)) }).boxed()
}

/// Logs a queue message that is no event, by its first 200 characters: a queue message may
/// hold any bytes, so control characters (a NUL, an escape sequence, a line break that would
/// forge a log line) are escaped, never written as they are.
fn log_malformed(err: &cloudtrail::Malformed, body: &str) {
    let head: String = body.chars().take(200).collect();
    warn!(error = %err, body = ?head, "dropping a malformed events message");
}

/// What one event asks for.
#[derive(Debug, Default, PartialEq)]
pub struct Mapped {
    pub guards: HashSet<ObjectRef<ApiGatewayGuard>>,
    pub policies: HashSet<ObjectRef<ApiGatewayGuardPolicy>>,
}

/// The guards and policies `change` concerns. A guard's region is resolved as the operator
/// does (`region_of`), and so is the AWS account it or a policy reaches (`account_of`, from
/// its `spec.account`; `None` when not known yet): a stage is where it is, whichever identity
/// reaches it.
pub fn map(
    change: &Change,
    guards: &[Arc<ApiGatewayGuard>],
    policies: &[Arc<ApiGatewayGuardPolicy>],
    region_of: impl Fn(Option<&str>) -> String,
    account_of: impl Fn(Option<&str>) -> Option<String>,
) -> Mapped {
    let mut mapped = Mapped::default();
    for guard in guards {
        let account = guard
            .status
            .as_ref()
            .and_then(|s| s.account_id.clone())
            .or_else(|| account_of(guard.spec.account.as_deref()));
        let region = region_of(guard.spec.region.as_deref());
        if change.concerns(guard, &region, account.as_deref()) {
            mapped.guards.insert(ObjectRef::from_obj(&**guard));
        }
    }
    for policy in policies {
        let account = account_of(policy.spec.account.as_deref());
        if account.is_none_or(|a| a == change.account)
            && change.may_change_matches(
                &region_of(policy.spec.region.as_deref()),
                &policy.spec.selector.api_kinds,
            )
        {
            mapped.policies.insert(ObjectRef::from_obj(&**policy));
        }
    }
    mapped
}

impl Inbox {
    /// Starts one long-poll loop per queue and the health watch; returns the triggers for the
    /// controllers. The loops end with the process.
    pub fn start(self) -> Triggers {
        let (guards_tx, guards_rx) = mpsc::unbounded_channel();
        let (policies_tx, policies_rx) = mpsc::unbounded_channel();
        let (all_tx, all_rx) = mpsc::unbounded_channel();
        let inbox = Arc::new(self);
        // Events name the account they happened in; the guards through the operator's own
        // identity are in its account.
        let guards = inbox.guards.clone();
        tokio::spawn(async move { guards.learn_own_account().await });
        for (queue, sqs) in inbox.queues.clone() {
            let (inbox, guards_tx, policies_tx) =
                (inbox.clone(), guards_tx.clone(), policies_tx.clone());
            tokio::spawn(async move { inbox.poll(&sqs, &queue, &guards_tx, &policies_tx).await });
        }
        let watch = inbox.clone();
        tokio::spawn(async move { watch.watch_health(&all_tx).await });
        Triggers {
            guards: receiver(guards_rx),
            policies: receiver(policies_rx),
            all_guards: receiver(all_rx),
        }
    }

    /// Falls back to polling when the events stop flowing, and says so; asks for every guard
    /// at once then, as their next resync was set an hour out.
    async fn watch_health(&self, all: &mpsc::UnboundedSender<()>) {
        let mut flowing = None;
        loop {
            tokio::time::sleep(HEALTH_CHECK).await;
            let now = self.health.flowing();
            if flowing != Some(now) {
                self.metrics.events_fallback(!now);
                match now {
                    true => info!(
                        "events flow: guards are read again every {:?}",
                        self.health.resync
                    ),
                    false => {
                        warn!(
                            resync = ?self.guards.resync,
                            "events queues unreachable or silent: falling back to the resync interval"
                        );
                        let _ = all.send(());
                    }
                }
                flowing = Some(now);
            }
        }
    }

    async fn poll(
        &self,
        sqs: &aws_sdk_sqs::Client,
        queue: &str,
        guards: &mpsc::UnboundedSender<AwsEvent>,
        policies: &mpsc::UnboundedSender<AwsEvent>,
    ) {
        // The first poll returns at once, so a reachable queue counts as flowing from the
        // start; the others wait for messages.
        let mut wait = 0;
        loop {
            let received = sqs
                .receive_message()
                .queue_url(queue)
                .max_number_of_messages(10)
                .wait_time_seconds(wait)
                .send()
                .await;
            wait = LONG_POLL_SECONDS;
            let messages = match received {
                Ok(out) => out.messages.unwrap_or_default(),
                Err(err) => {
                    warn!(queue, error = %crate::core::model::error_chain(&err), "cannot read the events queue");
                    tokio::time::sleep(POLL_RETRY).await;
                    continue;
                }
            };
            self.health.polled();
            // Queued before the messages go: a crash in between reads them again. A guard
            // several events ask for in a row is reconciled once.
            for message in &messages {
                self.health.heard();
                let outcome = match self.read(message.body().unwrap_or_default()) {
                    Err(outcome) => outcome,
                    Ok((change, mapped)) => {
                        for guard in &mapped.guards {
                            let _ =
                                guards.send(AwsEvent::new(&change.event, &change.region, guard));
                        }
                        for policy in &mapped.policies {
                            let _ =
                                policies.send(AwsEvent::new(&change.event, &change.region, policy));
                        }
                        "mapped"
                    }
                };
                self.metrics.event(outcome);
            }
            self.delete(sqs, queue, &messages).await;
        }
    }

    /// The change one message tells of and what it concerns; or, when it asks for nothing,
    /// the outcome for the metric.
    fn read(&self, body: &str) -> Result<(Change, Mapped), &'static str> {
        let change = match cloudtrail::parse(body, SESSION_NAME) {
            Err(err) => {
                log_malformed(&err, body);
                return Err("malformed");
            }
            Ok(None) => {
                debug!("an event of nothing the operator keeps");
                return Err("unmapped");
            }
            Ok(Some(change)) => change,
        };
        if change.own {
            debug!(event = change.event, "the operator's own write");
            return Err("own");
        }
        let found = map(
            &change,
            &self.guard_store.state(),
            &self.policy_store.state(),
            |region| self.guards.aws.region_name(region),
            |account| self.guards.account_of(account),
        );
        if found.guards.is_empty() && found.policies.is_empty() {
            debug!(
                event = change.event,
                region = change.region,
                "an event of nothing guarded"
            );
            return Err("unmapped");
        }
        // What the reconciles read must be AWS's now, not a listing from before the change.
        self.guards.aws.expire_region(&change.region);
        for policy in &found.policies {
            if let Some(policy) = self.policy_store.get(policy) {
                self.policies.rediscover(&policy.uid().unwrap_or_default());
            }
        }
        info!(
            event = change.event,
            region = change.region,
            guards = found.guards.len(),
            policies = found.policies.len(),
            "reconciling what an event concerns"
        );
        Ok((change, found))
    }

    async fn delete(
        &self,
        sqs: &aws_sdk_sqs::Client,
        queue: &str,
        messages: &[aws_sdk_sqs::types::Message],
    ) {
        if messages.is_empty() {
            return;
        }
        let entries: Vec<_> = messages
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle()?)
                    .build()
                    .ok()
            })
            .collect();
        let deleted = sqs
            .delete_message_batch()
            .queue_url(queue)
            .set_entries(Some(entries))
            .send()
            .await;
        match deleted {
            Ok(out) if out.failed().is_empty() => {}
            Ok(out) => warn!(
                queue,
                failed = out.failed().len(),
                "some events were not deleted; they come back and are read again"
            ),
            Err(err) => {
                warn!(queue, error = %crate::core::model::error_chain(&err), "events not deleted; they come back and are read again")
            }
        }
    }
}

#[cfg(test)]
mod tests;
