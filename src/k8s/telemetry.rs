//! Logs, Prometheus metrics and the health endpoints of the running operator.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::aws::Call;

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line, with the guard's namespace and name on every line.
    Json,
    /// Human-readable lines.
    Text,
}

/// Logs to stderr, filtered by `RUST_LOG`, else by `default` (e.g. `info`). Colours only
/// where stderr is a terminal: a file or a log collector gets plain text.
pub fn init_logging(format: LogFormat, default: &str) {
    use std::io::IsTerminal;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let ansi = std::io::stderr().is_terminal();
    subscriber(format, filter, ansi, std::io::stderr).init();
}

/// The logs' subscriber in `format`, writing to `writer`: the JSON one carries the current
/// span's fields (the guard) on every line.
fn subscriber<W>(
    format: LogFormat,
    filter: tracing_subscriber::EnvFilter,
    ansi: bool,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    match format {
        LogFormat::Json => Box::new(
            builder
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .finish(),
        ),
        LogFormat::Text => Box::new(builder.finish()),
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AwsCallLabels {
    service: &'static str,
    operation: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabels {
    service: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReadyLabels {
    ready: &'static str,
}

/// The operator's Prometheus metrics.
#[derive(Debug)]
pub struct Metrics {
    reconciles: Family<ResultLabels, Counter>,
    reconcile_duration: Histogram,
    aws_calls: Family<AwsCallLabels, Counter>,
    guards: Family<ReadyLabels, Gauge>,
    /// Each guard's last Ready state, to keep the `guards` gauge exact.
    ready_by_guard: Mutex<HashMap<String, &'static str>>,
    rate_limit_wait: Family<ServiceLabels, Counter<f64, AtomicU64>>,
    queued_turns: Gauge,
    /// The guards whose usage-plan change waits for its turn, to keep `queued_turns` exact.
    queued_guards: Mutex<HashSet<String>>,
    events: Family<OutcomeLabels, Counter>,
    events_last_received: Gauge,
    events_fallback: Gauge,
    reconciles_waiting: Gauge,
}

impl Metrics {
    /// Creates the metrics and registers them under the `apigw_guard` prefix.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            reconciles: Family::default(),
            reconcile_duration: Histogram::new(exponential_buckets(0.01, 2.0, 12)),
            aws_calls: Family::default(),
            guards: Family::default(),
            ready_by_guard: Mutex::default(),
            rate_limit_wait: Family::default(),
            queued_turns: Gauge::default(),
            queued_guards: Mutex::default(),
            events: Family::default(),
            events_last_received: Gauge::default(),
            events_fallback: Gauge::default(),
            reconciles_waiting: Gauge::default(),
        };
        let registry = registry.sub_registry_with_prefix("apigw_guard");
        registry.register(
            "reconciles",
            "Reconciles by result",
            metrics.reconciles.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time one reconcile took, AWS calls included",
            metrics.reconcile_duration.clone(),
        );
        registry.register(
            "aws_calls",
            "AWS API calls by service, operation and outcome",
            metrics.aws_calls.clone(),
        );
        registry.register("guards", "Guards by Ready state", metrics.guards.clone());
        registry.register(
            "rate_limit_wait_seconds",
            "Time AWS calls waited for the client-side rate limits (AWS quotas), by service",
            metrics.rate_limit_wait.clone(),
        );
        registry.register(
            "usage_plan_turns_queued",
            "Guards whose usage-plan throttle change waits for its turn under UpdateUsagePlan's \
             one-per-20-s quota",
            metrics.queued_turns.clone(),
        );
        registry.register(
            "events",
            "CloudTrail and alarm events read from the queues, by outcome: mapped (reconciles \
             queued), unmapped (nothing guarded), own (the operator's own writes), malformed",
            metrics.events.clone(),
        );
        registry.register(
            "events_last_received_timestamp_seconds",
            "When the last event arrived (Unix time); 0 before the first",
            metrics.events_last_received.clone(),
        );
        registry.register(
            "events_fallback",
            "1 while the queues are unreachable or silent and the guards are polled on the normal \
             resync interval",
            metrics.events_fallback.clone(),
        );
        registry.register(
            "reconciles_waiting",
            "Reconciles of guards asked for and waiting for one of the --concurrency slots: the \
             backlog (guards just applied, resyncs, events), served first come, first served",
            metrics.reconciles_waiting.clone(),
        );
        metrics
    }

    /// One more (`1`) or one fewer (`-1`) reconcile waiting for a slot.
    pub fn reconciles_waiting(&self, change: i64) {
        self.reconciles_waiting.inc_by(change);
    }

    /// Counts one event read from a queue.
    pub fn event(&self, outcome: &'static str) {
        self.events.get_or_create(&OutcomeLabels { outcome }).inc();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        self.events_last_received
            .set(i64::try_from(now.as_secs()).unwrap_or(i64::MAX));
    }

    /// Whether the guards are polled on the normal interval for want of events.
    pub fn events_fallback(&self, falling_back: bool) {
        self.events_fallback.set(i64::from(falling_back));
    }

    /// Counts one reconcile: `ready`, `not_ready`, `deleted` or `error`.
    pub fn reconciled(&self, result: &'static str, seconds: f64) {
        self.reconciles
            .get_or_create(&ResultLabels { result })
            .inc();
        self.reconcile_duration.observe(seconds);
    }

    /// Counts the AWS calls one reconcile made.
    pub fn aws_calls(&self, calls: &[Call]) {
        for call in calls {
            let labels = AwsCallLabels {
                service: call.service,
                operation: call.operation,
                outcome: if call.ok { "ok" } else { "error" },
            };
            self.aws_calls.get_or_create(&labels).inc();
            if !call.waited.is_zero() {
                self.rate_limit_wait
                    .get_or_create(&ServiceLabels {
                        service: call.service,
                    })
                    .inc_by(call.waited.as_secs_f64());
            }
        }
    }

    /// Records whether a guard's usage-plan change waits for its turn (`false` also when the
    /// guard is gone).
    pub fn usage_plan_turn(&self, guard: &str, queued: bool) {
        let mut guards = self.queued_guards.lock().unwrap_or_else(|p| p.into_inner());
        match queued {
            true => guards.insert(guard.to_owned()),
            false => guards.remove(guard),
        };
        self.queued_turns
            .set(i64::try_from(guards.len()).unwrap_or(i64::MAX));
    }

    /// Records a guard's Ready state (`"true"`, `"false"`), or its removal with `None`.
    pub fn guard_ready(&self, guard: &str, ready: Option<&'static str>) {
        let mut by_guard = self
            .ready_by_guard
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match ready {
            Some(state) => by_guard.insert(guard.to_owned(), state),
            None => by_guard.remove(guard),
        };
        for state in ["true", "false"] {
            let count = by_guard.values().filter(|s| **s == state).count();
            self.guards
                .get_or_create(&ReadyLabels { ready: state })
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }
}

#[derive(Clone)]
struct Health {
    registry: Arc<Registry>,
    ready: Arc<AtomicBool>,
}

/// Serves `/healthz` (the process answers), `/readyz` (once `ready` is set) and `/metrics`
/// on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    registry: Arc<Registry>,
    ready: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(Health { registry, ready });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn readyz(State(health): State<Health>) -> impl IntoResponse {
    match health.ready.load(Ordering::Relaxed) {
        true => (StatusCode::OK, "ready"),
        false => (StatusCode::SERVICE_UNAVAILABLE, "starting"),
    }
}

async fn metrics(State(health): State<Health>) -> impl IntoResponse {
    let mut body = String::new();
    match encode(&mut body, &health.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        ),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            err.to_string(),
        ),
    }
}

/// What the logs in `format` say of `log`, as the operator writes them into a file (no
/// colours, RUST_LOG's default `info`): for tests of what a log line carries.
#[cfg(test)]
pub fn logged(format: LogFormat, log: impl FnOnce()) -> String {
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let filter = tracing_subscriber::EnvFilter::new("info");
    let subscriber = subscriber(format, filter, false, move || writer.clone());
    tracing::subscriber::with_default(subscriber, log);
    String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn health_readiness_and_metrics_endpoints() {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        metrics.guard_ready("ns/g", Some("true"));
        let ready = Arc::new(AtomicBool::new(false));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, Arc::new(registry), ready.clone(), async {
            let _ = stopped.await;
        }));
        assert!(get(addr, "/healthz").await.starts_with("HTTP/1.1 200"));
        assert!(get(addr, "/readyz").await.starts_with("HTTP/1.1 503"));
        ready.store(true, Ordering::Relaxed);
        assert!(get(addr, "/readyz").await.starts_with("HTTP/1.1 200"));
        let body = get(addr, "/metrics").await;
        assert!(body.starts_with("HTTP/1.1 200"), "{body}");
        assert!(
            body.contains("apigw_guard_guards{ready=\"true\"} 1"),
            "{body}"
        );
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }

    #[test]
    fn guards_gauge_counts_each_guard_once() {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        metrics.guard_ready("a/one", Some("false"));
        metrics.guard_ready("a/one", Some("true"));
        metrics.guard_ready("a/two", Some("true"));
        metrics.guard_ready("a/three", Some("false"));
        metrics.guard_ready("a/three", None);
        metrics.reconciled("ready", 0.2);
        metrics.aws_calls(&[Call {
            service: "apigateway",
            operation: "GetStage",
            write: false,
            ok: true,
            waited: std::time::Duration::from_millis(1500),
        }]);
        metrics.usage_plan_turn("a/one", true);
        metrics.usage_plan_turn("a/two", true);
        metrics.usage_plan_turn("a/one", true);
        metrics.usage_plan_turn("a/two", false);
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("apigw_guard_guards{ready=\"true\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("apigw_guard_guards{ready=\"false\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("apigw_guard_reconciles_total{result=\"ready\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "apigw_guard_aws_calls_total{service=\"apigateway\",operation=\"GetStage\",outcome=\"ok\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("apigw_guard_reconcile_duration_seconds_count 1"),
            "{text}"
        );
        assert!(
            text.contains("apigw_guard_rate_limit_wait_seconds_total{service=\"apigateway\"} 1.5"),
            "{text}"
        );
        assert!(
            text.contains("apigw_guard_usage_plan_turns_queued 1"),
            "{text}"
        );
    }
}
