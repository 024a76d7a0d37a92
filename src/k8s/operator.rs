//! `apigw-guard run`: wires the controller to the cluster, AWS, leader election, the health
//! and metrics server, and SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kube::runtime::events::Reporter;
use kube::runtime::watcher;
use kube::{Api, Client};
use kube_lease_manager::LeaseManagerBuilder;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::aws::SHARED_READ_WINDOW;
use crate::aws::{AwsArgs, RegionalClients};
use crate::core::crd::ApiGatewayGuard;
use crate::core::tenancy::OwnIdentity;
use crate::k8s::accounts;
use crate::k8s::controller::{self, Context, EventsHealth, Writers};
use crate::k8s::inbox::{Inbox, Triggers};
use crate::k8s::policies;
use crate::k8s::recorder::Recorder;
use crate::k8s::telemetry::{LogFormat, Metrics, init_logging, serve};
use crate::k8s::tenants::Tenants;
use crate::k8s::toolkit::FIELD_MANAGER;

/// `apigw-guard run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Watch guards in this namespace only; all namespaces when omitted.
    #[arg(long, env = "WATCH_NAMESPACE")]
    pub namespace: Option<String>,
    /// Reconcile only guards matching this label selector (e.g. shard=a), so several operator
    /// deployments can split a fleet; give each its own --lease-name.
    #[arg(long)]
    pub selector: Option<String>,
    /// How often every guard is re-read from AWS, so changes made by hand are put back
    /// (e.g. 30s, 5m, 1h).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub resync_interval: Duration,
    /// How many guards reconcile at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// How often each ApiGatewayGuardPolicy looks for new and gone stages (one GetRestApis
    /// page per 500 REST APIs, one GetStages per matched API).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub discovery_interval: Duration,
    /// An SQS queue that CloudTrail events reach through EventBridge
    /// (deploy/events/cloudtrail-to-sqs.yaml); repeatable. Each event reconciles the guards and
    /// policies it concerns at once, and the resync becomes --events-resync.
    #[arg(long = "events-queue-url", value_name = "URL")]
    pub events_queue_urls: Vec<String>,
    /// How often every guard is re-read from AWS while events flow: the safety net.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub events_resync: Duration,
    /// How long the queues may be silent (or unreachable for 2 min) before the guards go back
    /// to --resync-interval, until events flow again.
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    pub events_max_silence: Duration,
    /// Address of the /healthz, /readyz and /metrics server.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Elect one active replica through a coordination.k8s.io Lease, so several can run.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Name of the leader election Lease.
    #[arg(long, default_value = "apigw-guard")]
    pub lease_name: String,
    /// Namespace of the Lease; defaults to the operator's own (POD_NAMESPACE), else the
    /// client's default namespace.
    #[arg(long, env = "POD_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// This replica's identity in the Lease and in events; defaults to POD_NAME, else the
    /// host name.
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// Log line format.
    #[arg(long, value_enum, default_value = "json")]
    pub log_format: LogFormat,
    /// Which namespaces' guards may act through the operator's own AWS identity (guards
    /// without spec.account): all, none, or a label selector of key=value, key!=value, key
    /// and !key terms (e.g. team=platform). Default all, so a cluster without AwsAccounts
    /// works as before; set none once every guard names an AwsAccount.
    #[arg(long, default_value = "all", value_parser = clap::value_parser!(OwnIdentity))]
    pub own_identity_namespaces: OwnIdentity,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// `30s`, `5m`, `1h` or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let value: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30s, 5m or 1h"))?;
    let seconds = match unit {
        "" | "s" => value,
        "m" => value * 60,
        "h" => value * 3600,
        _ => return Err(format!("{text:?}: unit must be s, m or h")),
    };
    match seconds {
        0 => Err("the interval must be longer than 0".to_owned()),
        s => Ok(Duration::from_secs(s)),
    }
}

/// Lease validity and the renewal margin, in seconds: a new leader takes over at most this
/// long after the old one stops renewing.
const LEASE_SECONDS: u64 = 15;
const LEASE_GRACE_SECONDS: u64 = 5;
/// How long after a stop the reconciles in flight may go on: under a Pod's default 30 s
/// termination grace, with time left to release the lease.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

/// How long the guards of a region share one listing. A resync (or a policy's discovery) is
/// never answered from a listing older than half its interval, so one made before the previous
/// resync of the same guard began is never used: a change made by hand is seen by the first
/// resync at least one window after it, at most `interval + window` (1.5 intervals) later.
fn sharing_window(args: &RunArgs) -> std::time::Duration {
    let mut window = SHARED_READ_WINDOW
        .min(args.resync_interval / 2)
        .min(args.discovery_interval / 2);
    if !args.events_queue_urls.is_empty() {
        window = window.min(args.events_resync / 2);
    }
    window
}

/// The leadership this replica holds through the Lease: told by `leader`, renewed by
/// `task`, and watched by `loss`, which stops the replica when it is lost (true then).
struct Lease {
    leader: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<kube_lease_manager::Result<kube_lease_manager::LeaseManager>>,
    loss: tokio::task::JoinHandle<bool>,
}

/// Waits until this replica leads (or is stopped first): only the leader reconciles.
async fn lead(
    args: &RunArgs,
    client: &Client,
    identity: &str,
    stop_tx: &watch::Sender<bool>,
) -> Result<Lease, String> {
    let namespace = args
        .lease_namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_owned());
    let manager = LeaseManagerBuilder::new(client.clone(), &args.lease_name)
        .with_namespace(&namespace)
        .with_identity(identity)
        .with_duration(LEASE_SECONDS)
        .with_grace(LEASE_GRACE_SECONDS)
        .with_field_manager(format!("{FIELD_MANAGER}-lease"))
        .build()
        .await
        .map_err(|e| format!("leader election: {e}"))?;
    let (mut leader, task) = manager.watch().await;
    info!(lease = %args.lease_name, %namespace, %identity, "waiting for leadership");
    tokio::select! {
        result = leader.wait_for(|is_leader| *is_leader) => {
            result.map_err(|e| format!("leader election stopped: {e}"))?;
        }
        () = stopped(stop_tx) => {}
    }
    let stop_on_loss = stop_tx.clone();
    let mut watch_leader = leader.clone();
    let loss = tokio::spawn(async move {
        let lost = watch_leader.wait_for(|is_leader| !*is_leader).await.is_ok();
        if lost {
            warn!("lost leadership: stopping so that the new leader alone writes");
            let _ = stop_on_loss.send(true);
        }
        lost
    });
    Ok(Lease { leader, task, loss })
}

impl Lease {
    /// Ends the leadership: releases the Lease so a standby takes over at once. True when it
    /// had been lost already.
    async fn end(self) -> bool {
        let Lease { leader, task, loss } = self;
        let lost = match loss.is_finished() {
            true => loss.await.unwrap_or(false),
            false => {
                loss.abort();
                false
            }
        };
        // Closing the channel ends the lease task.
        drop(leader);
        if let Ok(Ok(manager)) = task.await
            && let Err(err) = manager.release().await
        {
            warn!(error = %err, "could not release the lease");
        }
        lost
    }
}

/// What runs while this replica leads: the three controllers and, with queues, the events
/// inbox.
struct Running {
    ctx: Arc<Context>,
    accounts_ctx: Arc<accounts::Context>,
    policies_ctx: Arc<policies::Context>,
    writers: Writers,
    api: Api<ApiGatewayGuard>,
    queues: Vec<(String, aws_sdk_sqs::Client)>,
    health: Option<Arc<EventsHealth>>,
    guard_store: kube::runtime::reflector::Store<ApiGatewayGuard>,
    metrics: Arc<Metrics>,
}

impl Running {
    /// The controllers' contexts and stores, sharing `aws`'s clients and reads.
    async fn new(
        args: &RunArgs,
        client: &Client,
        aws: Arc<RegionalClients>,
        recorder: Recorder,
        metrics: Arc<Metrics>,
    ) -> Self {
        let accounts_ctx = Arc::new(accounts::Context {
            client: client.clone(),
            aws: args.aws.clients().await,
            recorder: recorder.clone(),
            metrics: metrics.clone(),
            resync: args.resync_interval,
            retry: Default::default(),
        });
        let (guards, guard_writer) = kube::runtime::reflector::store();
        let (account_store, account_writer) = kube::runtime::reflector::store();
        let (namespaces, namespace_writer) = kube::runtime::reflector::store();
        let tenants = Arc::new(Tenants::new(
            account_store,
            namespaces,
            args.own_identity_namespaces.clone(),
        ));
        let guard_store = guard_writer.as_reader();
        let mut ctx = Context::new(
            client.clone(),
            aws.clone(),
            recorder.clone(),
            metrics.clone(),
            args.resync_interval,
            guards,
            tenants.clone(),
        )
        .with_concurrency(args.concurrency);
        // Events flowing from queues make polling the safety net.
        let health = (!args.events_queue_urls.is_empty()).then(|| {
            Arc::new(EventsHealth::new(
                args.events_resync,
                args.events_max_silence,
            ))
        });
        if let Some(health) = &health {
            ctx = ctx.with_events(health.clone());
        }
        let ctx = Arc::new(ctx);
        let queues: Vec<_> = args
            .events_queue_urls
            .iter()
            .map(|url| (url.clone(), aws.sqs(url)))
            .collect();
        let policies_ctx = Arc::new(policies::Context::new(
            client.clone(),
            aws.clone(),
            recorder.clone(),
            metrics.clone(),
            args.discovery_interval,
            tenants.clone(),
            guard_store.clone(),
        ));
        let writers = Writers {
            guards: guard_writer,
            accounts: account_writer,
            namespaces: namespace_writer,
        };
        let api: Api<ApiGatewayGuard> = match &args.namespace {
            Some(namespace) => Api::namespaced(client.clone(), namespace),
            None => Api::all(client.clone()),
        };
        Running {
            ctx,
            accounts_ctx,
            policies_ctx,
            writers,
            api,
            queues,
            health,
            guard_store,
            metrics,
        }
    }

    /// Runs the controllers until a stop, then lets the reconciles in flight finish for at
    /// most `SHUTDOWN_GRACE`.
    async fn until(self, args: &RunArgs, client: &Client, stop_tx: &watch::Sender<bool>) {
        info!(namespace = ?args.namespace, resync = ?args.resync_interval, "controller starting");
        let watch = match &args.selector {
            Some(selector) => watcher::Config::default().labels(selector),
            None => watcher::Config::default(),
        };
        let policies_api = match &args.namespace {
            Some(namespace) => Api::namespaced(client.clone(), namespace),
            None => Api::all(client.clone()),
        };
        let (policy_store, policy_writer) = kube::runtime::reflector::store();
        let triggers = match self.health {
            None => Triggers::none(),
            Some(health) => Inbox {
                queues: self.queues,
                guards: self.ctx.clone(),
                guard_store: self.guard_store,
                policies: self.policies_ctx.clone(),
                policy_store,
                health,
                metrics: self.metrics.clone(),
            }
            .start(),
        };
        let guards = controller::run(
            self.ctx,
            self.api,
            watch.clone(),
            self.writers,
            (triggers.guards, triggers.all_guards),
            stopped(stop_tx),
        );
        let policies = policies::run(
            self.policies_ctx,
            policies_api,
            watch,
            policy_writer,
            triggers.policies,
            stopped(stop_tx),
        );
        let controllers = async {
            tokio::join!(
                guards,
                accounts::run(self.accounts_ctx, stopped(stop_tx)),
                policies
            );
        };
        let grace = async {
            stopped(stop_tx).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        tokio::select! {
            () = controllers => {}
            () = grace => warn!(
                grace = ?SHUTDOWN_GRACE,
                "reconciles still running after the stop's grace: leaving them"
            ),
        }
    }
}

/// Resolves when SIGTERM or Ctrl-C arrives.
async fn terminated() {
    let mut sigterm =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match sigterm.as_mut() {
                Some(signal) => { signal.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

/// Runs the operator until SIGTERM or the loss of leadership.
pub async fn run(args: RunArgs) -> Result<(), String> {
    init_logging(args.log_format, "info");
    let client = Client::try_default()
        .await
        .map_err(|e| format!("no Kubernetes client configuration: {e}"))?;
    let identity = args
        .identity
        .clone()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "apigw-guard".to_owned());

    // Stop is broadcast once: on SIGTERM, or when leadership is lost.
    // The receiver is kept for the whole run: a send with none left would not be stored.
    let (stop_tx, _kept) = watch::channel(false);
    let stop_on_signal = stop_tx.clone();
    tokio::spawn(async move {
        terminated().await;
        info!("termination signal: shutting down");
        let _ = stop_on_signal.send(true);
    });

    let mut registry = Registry::default();
    let metrics = Arc::new(Metrics::register(&mut registry));
    let ready = Arc::new(AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind(args.metrics_addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.metrics_addr))?;
    let server = tokio::spawn(serve(
        listener,
        Arc::new(registry),
        ready.clone(),
        stopped(&stop_tx),
    ));

    let window = sharing_window(&args);
    let aws = Arc::new(args.aws.clients().await.share_reads_for(window));
    let reporter = Reporter {
        controller: FIELD_MANAGER.to_owned(),
        instance: Some(identity.clone()),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    let running = Running::new(&args, &client, aws, recorder, metrics).await;
    // A standby replica is healthy and ready; only the leader reconciles.
    ready.store(true, Ordering::Relaxed);

    let lease = match args.leader_election {
        true => Some(lead(&args, &client, &identity, &stop_tx).await?),
        false => None,
    };
    if !*stop_tx.borrow() {
        running.until(&args, &client, &stop_tx).await;
    }
    let lost_leadership = match lease {
        Some(lease) => lease.end().await,
        None => false,
    };
    let _ = stop_tx.send(true);
    let _ = server.await;
    match lost_leadership {
        true => Err("lost leadership".to_owned()),
        false => Ok(()),
    }
}

/// Resolves once the stop `tx` broadcasts was sent (at once if it was already).
fn stopped(tx: &watch::Sender<bool>) -> impl Future<Output = ()> + Send + Sync + 'static {
    let mut rx = tx.subscribe();
    async move {
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;

    use super::*;

    fn window(args: &[&str]) -> Duration {
        #[derive(Parser)]
        struct Run {
            #[command(flatten)]
            args: RunArgs,
        }
        let parsed = Run::try_parse_from(std::iter::once("run").chain(args.iter().copied()));
        sharing_window(&parsed.expect("valid flags").args)
    }

    /// The bound the README gives for a change made by hand without events: one resync
    /// interval and one window, the window never more than half the interval.
    #[test]
    fn a_listing_is_never_older_than_half_a_resync() {
        assert_eq!(window(&[]), Duration::from_secs(60));
        assert_eq!(
            window(&["--resync-interval", "30s"]),
            Duration::from_secs(15)
        );
        assert_eq!(
            window(&["--discovery-interval", "1m"]),
            Duration::from_secs(30)
        );
        // Events: the 1 h safety net keeps the minute; a short one halves it.
        let queue = ["--events-queue-url", "http://127.0.0.1:1/q"];
        assert_eq!(window(&queue), Duration::from_secs(60));
        let short = [&queue[..], &["--events-resync", "40s"]].concat();
        assert_eq!(window(&short), Duration::from_secs(20));
    }
}
