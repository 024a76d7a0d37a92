//! A real Kubernetes API server for tests: envtest's pair, etcd and kube-apiserver, one per
//! test binary, started on first use on free loopback ports with a CA, a serving certificate,
//! a service-account key pair and an admin token made at test time, and every CRD of `crds/`
//! installed. Each process is started under a watcher that ends it when the test process's
//! end of a pipe closes, so they stop with the test binary, after a panic too.
//!
//! The binaries come from `KUBEBUILDER_ASSETS` (envtest's convention), else from
//! `scripts/envtest-assets` (etcd from PyPI, the API server from `../shared/k8s`).
//!
//! Every test that uses the API server is `#[ignore = "envtest: ..."]` (the exact reason is
//! [`IGNORED`]; `tests/it/skips.rs` checks it), so `cargo test` reports it as ignored instead of
//! passing without having run; `scripts/test` runs them with `--include-ignored` when it has
//! the binaries, and says how many ran or were skipped. A test run by name without the binaries
//! fails saying how to get them: it never passes without an API server.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::PostParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use tokio::sync::OnceCell;

/// The running API server and where its files are.
pub struct ApiServer {
    /// Certificates, kubeconfigs, etcd's data and the processes' logs.
    pub dir: PathBuf,
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    _processes: Mutex<Vec<Supervised>>,
}

static SERVER: OnceCell<ApiServer> = OnceCell::const_new();

/// The `#[ignore]` reason of every test that needs the API server, as written on each.
pub const IGNORED: &str =
    "envtest: needs etcd and kube-apiserver (KUBEBUILDER_ASSETS); scripts/test runs it";

/// The shared API server, started on first use; panics, saying how to get envtest's binaries,
/// when they are not to be had here.
pub async fn api_server() -> &'static ApiServer {
    SERVER.get_or_init(|| start_numbered(0, true)).await
}

/// A process run under the pipe watcher; dropping it (or the test process ending) stops it.
pub struct Supervised {
    child: Child,
    /// The watched process's own pid (not the watcher's).
    pub pid: u32,
    pub log: PathBuf,
}

impl Supervised {
    /// Starts `program` with `args` and `env`, its output appended to `log`.
    pub fn start(program: &Path, args: &[String], env: &[(&str, String)], log: &Path) -> Self {
        let mut command = Command::new("bash");
        command
            .arg("-c")
            .arg(
                r#"log=$1; shift; "$@" </dev/null >>"$log" 2>&1 & child=$!; echo "$child";
                   cat >/dev/null; kill -9 "$child" 2>/dev/null; wait "$child" 2>/dev/null; exit 0"#,
            )
            .arg("supervise")
            .arg(log)
            .arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("bash starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout is piped"))
            .read_line(&mut line)
            .expect("the watcher prints the pid");
        Self {
            child,
            pid: line.trim().parse().expect("a pid"),
            log: log.to_owned(),
        }
    }

    /// SIGKILL, as a crash or an OOM kill ends a pod: nothing is cleaned up.
    pub fn kill_hard(&self) {
        let status = Command::new("kill")
            .args(["-9", &self.pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -9 {}", self.pid);
    }

    /// What the process wrote so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        // Closing stdin tells the watcher to stop the process; then reap the watcher.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn assets() -> PathBuf {
    script_path(
        "scripts/envtest-assets",
        "a Kubernetes API server for the envtest tests (set KUBEBUILDER_ASSETS to a folder \
         holding etcd and kube-apiserver, e.g. from envtest's `setup-envtest use -p path`)",
    )
}

/// The path a script of the project prints (installing what it names if missing); panics,
/// with the script's own words, when it fails here.
pub fn script_path(script: &str, what: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root.join(script))
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("{script} runs: {e}"));
    let why = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what} is not to be had: {script} says: {why}"
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn run(script: &str, dir: &Path) {
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A kubeconfig for `server` that authenticates with `token`.
pub fn kubeconfig(dir: &Path, url: &str, name: &str, token: &str) -> PathBuf {
    let path = dir.join(format!("{name}.kubeconfig"));
    let ca = dir.join("ca.crt");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: envtest\n\
             clusters: [{{name: envtest, cluster: {{server: '{url}', certificate-authority: '{}'}}}}]\n\
             users: [{{name: {name}, user: {{token: '{token}'}}}}]\n\
             contexts: [{{name: envtest, context: {{cluster: envtest, user: {name}, namespace: default}}}}]\n",
            ca.display()
        ),
    )
    .unwrap();
    path
}

/// A client from a kubeconfig file.
pub async fn client_from(path: &Path) -> Client {
    let kubeconfig = Kubeconfig::read_from(path).unwrap();
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

impl ApiServer {
    /// A cluster-admin client (system:masters).
    pub async fn admin(&self) -> Client {
        client_from(&self.dir.join("admin.kubeconfig")).await
    }
}

/// `envtest-<pid>` under cargo's scratch directory for tests (`envtest-<pid>-<n>` for the n-th
/// [`fresh_api_server`]); those of test processes that are gone are removed.
fn scratch_dir(n: usize) -> PathBuf {
    let parent = Path::new(env!("CARGO_TARGET_TMPDIR"));
    for entry in std::fs::read_dir(parent).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name
            .strip_prefix("envtest-")
            .and_then(|rest| rest.split('-').next())
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let dir = match n {
        0 => parent.join(format!("envtest-{}", std::process::id())),
        n => parent.join(format!("envtest-{}-{n}", std::process::id())),
    };
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A fresh API server of the caller's own, as a new cluster is: with the CRDs of `crds/`
/// installed or not. Dropping it stops it.
pub async fn fresh_api_server(crds: bool) -> ApiServer {
    static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
    start_numbered(
        STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        crds,
    )
    .await
}

async fn start_numbered(n: usize, crds: bool) -> ApiServer {
    let bin = assets();
    let dir = scratch_dir(n);
    std::fs::create_dir_all(dir.join("etcd")).unwrap();
    let token = format!("admin-{}-{}", std::process::id(), free_port());
    run(
        &format!(
            "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 \
               -subj /CN=envtest-ca 2>/dev/null
             openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr \
               -subj /CN=kube-apiserver 2>/dev/null
             printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nbasicConstraints=CA:FALSE\\n\
extendedKeyUsage=serverAuth\\n' >apiserver.ext
             openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
               -out apiserver.crt -days 1 -extfile apiserver.ext 2>/dev/null
             openssl genrsa -out sa.key 2048 2>/dev/null
             openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
             echo '{token},admin,admin,system:masters' >tokens.csv"
        ),
        &dir,
    );
    let (etcd_port, peer_port, port) = (free_port(), free_port(), free_port());
    let etcd_url = format!("http://127.0.0.1:{etcd_port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    let etcd = Supervised::start(
        &bin.join("etcd"),
        &[
            "--name=envtest".to_owned(),
            format!("--data-dir={}", dir.join("etcd").display()),
            format!("--listen-client-urls={etcd_url}"),
            format!("--advertise-client-urls={etcd_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=envtest={peer_url}"),
            "--unsafe-no-fsync=true".to_owned(),
        ],
        &[],
        &dir.join("etcd.log"),
    );
    let file = |name: &str| dir.join(name).display().to_string();
    let apiserver = Supervised::start(
        &bin.join("kube-apiserver"),
        &[
            format!("--etcd-servers={etcd_url}"),
            "--bind-address=127.0.0.1".to_owned(),
            format!("--secure-port={port}"),
            "--advertise-address=127.0.0.1".to_owned(),
            format!("--tls-cert-file={}", file("apiserver.crt")),
            format!("--tls-private-key-file={}", file("apiserver.key")),
            format!("--client-ca-file={}", file("ca.crt")),
            format!("--token-auth-file={}", file("tokens.csv")),
            "--service-account-issuer=https://kubernetes.default.svc".to_owned(),
            format!("--service-account-key-file={}", file("sa.pub")),
            format!("--service-account-signing-key-file={}", file("sa.key")),
            "--service-cluster-ip-range=10.96.0.0/16".to_owned(),
            "--authorization-mode=RBAC".to_owned(),
            "--endpoint-reconciler-type=none".to_owned(),
            "--allow-privileged=true".to_owned(),
            "--disable-admission-plugins=ServiceAccount".to_owned(),
        ],
        &[],
        &dir.join("kube-apiserver.log"),
    );
    let url = format!("https://127.0.0.1:{port}");
    kubeconfig(&dir, &url, "admin", &token);
    let server = ApiServer {
        dir,
        url,
        _processes: Mutex::new(vec![etcd, apiserver]),
    };
    let client = server.admin().await;
    let started = Instant::now();
    loop {
        let ready = client
            .request_text(http::Request::get("/readyz").body(Vec::new()).unwrap())
            .await;
        if matches!(ready.as_deref(), Ok("ok")) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the API server is not ready after 90 s: {ready:?}\n{}",
            std::fs::read_to_string(server.dir.join("kube-apiserver.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    if crds {
        install_crds(&client).await;
    }
    server
}

/// Creates every CRD of `crds/` and waits until each is Established.
async fn install_crds(client: &Client) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let mut crds = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n == "kustomization.yaml") {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        crds.push(serde_yaml::from_str(&text).unwrap());
    }
    install(client, crds).await;
}

/// Creates `crds` and waits until each is Established.
pub async fn install(client: &Client, crds: Vec<CustomResourceDefinition>) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut names = Vec::new();
    for crd in crds {
        api.create(&PostParams::default(), &crd).await.unwrap();
        names.push(crd.metadata.name.unwrap());
    }
    for name in names {
        let started = Instant::now();
        loop {
            let crd = api.get(&name).await.unwrap();
            let established = crd
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{name} not established"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
