//! The README's shell blocks, run as written, and its examples applied as it says.
//!
//! Each ```` ```sh ```` block of README.md has a comment line just above it saying where it runs:
//! - `<!-- readme-check: local -->`: from the repository's root, with the test build's
//!   `apigw-guard` first on `PATH` and no AWS variables set, on a local AWS of its own (its
//!   own `APIGW_GUARD_LOCAL_AWS_DIR`, so a local AWS the user started is not touched);
//! - `<!-- readme-check: cluster -->`: the same, with kubectl and helm (`scripts/k8s-tools`)
//!   on `PATH`, against a fresh API server of its own (envtest) holding only the Prometheus
//!   Operator's ServiceMonitor CRD, which the optional monitoring line needs, and a local AWS
//!   state folder of its own for a block that runs the operator on the machine;
//! - `<!-- readme-check: skip: WHY -->`: not run here, and why.
//!
//! Every block runs under `bash -euo pipefail`, so a failing line fails the check.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;

#[derive(Debug, PartialEq)]
enum Place {
    Local,
    Cluster,
    Skip(String),
}

/// One fenced shell block: the README's line of its first command, where it runs, its text
/// (without the list item's indentation).
#[derive(Debug)]
struct Block {
    line: usize,
    place: Place,
    script: String,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `sh` (or `bash`, `shell`) block of `markdown`, with the marker above it; an error
/// names each block without one.
fn blocks(markdown: &str) -> Result<Vec<Block>, Vec<String>> {
    let lines: Vec<&str> = markdown.lines().collect();
    let (mut found, mut problems) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < lines.len() {
        let trimmed = lines[i].trim_start();
        let Some(info) = trimmed.strip_prefix("```") else {
            i += 1;
            continue;
        };
        let indent = lines[i].len() - trimmed.len();
        let start = i;
        let mut end = i + 1;
        while end < lines.len() && lines[end].trim() != "```" {
            end += 1;
        }
        i = end + 1;
        if !matches!(info.trim(), "sh" | "bash" | "shell") {
            continue;
        }
        let script: Vec<&str> = lines[start + 1..end.min(lines.len())]
            .iter()
            .map(|line| line.get(indent..).unwrap_or(line.trim_start()))
            .collect();
        let marker = lines[..start]
            .iter()
            .rev()
            .find(|line| !line.trim().is_empty())
            .map(|line| line.trim())
            .and_then(|line| line.strip_prefix("<!-- readme-check:"))
            .and_then(|line| line.strip_suffix("-->"))
            .map(str::trim);
        let place = match marker {
            Some("local") => Place::Local,
            Some("cluster") => Place::Cluster,
            Some(other) => match other.strip_prefix("skip:").map(str::trim) {
                Some(why) if !why.is_empty() => Place::Skip(why.to_owned()),
                _ => {
                    problems.push(format!(
                        "README.md:{}: `<!-- readme-check: {other} -->` is none of local, \
                         cluster, skip: WHY",
                        start + 1
                    ));
                    continue;
                }
            },
            None => {
                problems.push(format!(
                    "README.md:{}: a shell block without `<!-- readme-check: local | cluster | \
                     skip: WHY -->` on the line above",
                    start + 1
                ));
                continue;
            }
        };
        found.push(Block {
            line: start + 2,
            place,
            script: script.join("\n"),
        });
    }
    if problems.is_empty() {
        Ok(found)
    } else {
        Err(problems)
    }
}

/// Every shell block of README.md; panics naming each block without its marker.
fn all_readme_blocks() -> Vec<Block> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    blocks(&readme).unwrap_or_else(|problems| panic!("{}", problems.join("\n")))
}

fn readme_blocks(place: &Place) -> Vec<Block> {
    let all = all_readme_blocks();
    all.into_iter().filter(|b| b.place == *place).collect()
}

/// A folder of this test's own under cargo's scratch directory for tests.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("readme-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `PATH` with `first` before it.
fn path_with(first: &[&Path]) -> String {
    let mut parts: Vec<String> = first.iter().map(|p| p.display().to_string()).collect();
    parts.push(std::env::var("PATH").unwrap_or_default());
    parts.join(":")
}

/// The folder of the `apigw-guard` binary this test build made.
fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_apigw-guard"))
        .parent()
        .unwrap()
        .to_owned()
}

/// A command from the repository's root with no AWS variables from the caller's environment.
fn command_in_root(program: &str) -> Command {
    let mut command = Command::new(program);
    command.current_dir(root()).stdin(Stdio::null());
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_") {
            command.env_remove(key);
        }
    }
    command
}

/// Runs `block` under `bash -euo pipefail` (at most 15 minutes) with `env`; panics with its
/// output when it fails.
fn run(block: &Block, env: &[(&str, String)]) {
    let mut command = command_in_root("timeout");
    command.args(["900", "bash", "-euo", "pipefail", "-c", &block.script]);
    for (key, value) in env {
        command.env(key, value);
    }
    let out = command.output().expect("bash runs");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    assert!(
        out.status.success(),
        "README.md:{}: the block fails ({}):\n{}\n--- stdout\n{}\n--- stderr\n{}",
        block.line,
        out.status,
        block.script,
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// [`run`], then `scripts/local-aws stop` on the block's own local AWS (`state`), which a block
/// that failed half-way may have left running.
fn run_stopping_local_aws(block: &Block, env: &[(&str, String)], state: &Path) {
    let result = std::panic::catch_unwind(|| run(block, env));
    let _ = command_in_root("scripts/local-aws")
        .arg("stop")
        .env("APIGW_GUARD_LOCAL_AWS_DIR", state)
        .status();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn every_shell_block_of_the_readme_says_where_it_runs() {
    let all = all_readme_blocks();
    let count = |place: Place| all.iter().filter(|b| b.place == place).count();
    assert!(count(Place::Local) >= 2, "{all:#?}");
    assert!(count(Place::Cluster) >= 2, "{all:#?}");
    // The parser itself: a block without its comment, and a marker that is none of the three.
    let problems = blocks("text\n\n```sh\nls\n```\n<!-- readme-check: maybe -->\n```sh\nls\n```\n")
        .unwrap_err();
    assert_eq!(problems.len(), 2, "{problems:?}");
    let indented =
        blocks("1. x\n   <!-- readme-check: skip: why -->\n   ```sh\n   ls \\\n     -l\n   ```\n")
            .unwrap();
    assert_eq!(indented[0].script, "ls \\\n  -l");
    assert_eq!(indented[0].place, Place::Skip("why".to_owned()));
}

#[test]
fn the_readmes_local_blocks_run_as_written() {
    for (n, block) in readme_blocks(&Place::Local).iter().enumerate() {
        let state = scratch(&format!("local-aws-{n}"));
        let env = [
            ("PATH", path_with(&[&bin_dir()])),
            ("APIGW_GUARD_LOCAL_AWS_DIR", state.display().to_string()),
        ];
        run_stopping_local_aws(block, &env, &state);
    }
}

/// The Prometheus Operator's ServiceMonitor kind, as a cluster running it has, its schema open.
fn service_monitor_crd() -> CustomResourceDefinition {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
        "spec": {
            "group": "monitoring.coreos.com",
            "names": {"kind": "ServiceMonitor", "listKind": "ServiceMonitorList",
                      "plural": "servicemonitors", "singular": "servicemonitor"},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": true, "storage": true,
                          "schema": {"openAPIV3Schema": {
                              "type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]
        }
    }))
    .unwrap()
}

/// kubectl and helm as `scripts/test` installs them.
fn k8s_tools() -> PathBuf {
    support::envtest::script_path("scripts/k8s-tools", "kubectl and helm")
}

/// kubectl of `tools` with `args` and `env`, from the repository's root; its output, or a
/// panic saying `what` ran (and its stderr) when it fails.
fn kubectl(tools: &Path, env: &[(&str, String)], what: &str, args: &[&str]) -> String {
    let out = command_in_root(&tools.join("kubectl").display().to_string())
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    assert!(
        out.status.success(),
        "{what}kubectl {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[tokio::test]
#[ignore = "envtest: needs etcd and kube-apiserver (KUBEBUILDER_ASSETS); scripts/test runs it"]
async fn the_readmes_cluster_blocks_run_as_written_each_on_a_fresh_api_server() {
    let tools = k8s_tools();
    for (n, block) in readme_blocks(&Place::Cluster).iter().enumerate() {
        let server = support::envtest::fresh_api_server(false).await;
        support::envtest::install(&server.admin().await, vec![service_monitor_crd()]).await;
        let home = scratch(&format!("home-{n}"));
        let state = scratch(&format!("cluster-local-aws-{n}"));
        let env = [
            ("PATH", path_with(&[&tools, &bin_dir()])),
            (
                "KUBECONFIG",
                server.dir.join("admin.kubeconfig").display().to_string(),
            ),
            ("HOME", home.display().to_string()),
            // A block that runs the operator here brings a local AWS of its own.
            ("APIGW_GUARD_LOCAL_AWS_DIR", state.display().to_string()),
        ];
        run_stopping_local_aws(block, &env, &state);
        if block.script.contains("apigw-guard run") {
            // The operator on the user's machine: the block itself waits for Ready and drift.
            continue;
        }
        // Either way of installing leaves the operator's objects in the cluster.
        let at = format!("README.md:{}: ", block.line);
        let kubectl = |args: &[&str]| kubectl(&tools, &env, &at, args);
        kubectl(&[
            "get",
            "crd",
            "apigatewayguards.apigw-guard.dev",
            "awsaccounts.apigw-guard.dev",
        ]);
        kubectl(&[
            "get",
            "-n",
            "apigw-guard",
            "deployment/apigw-guard",
            "serviceaccount/apigw-guard",
        ]);
        kubectl(&[
            "get",
            "clusterrole/apigw-guard",
            "clusterrolebinding/apigw-guard",
        ]);
    }
}

/// Whether every field of `example` is in `server` with the same value (the server adds its
/// defaults and metadata).
fn holds(server: &Value, example: &Value) -> bool {
    match (server, example) {
        (Value::Object(s), Value::Object(e)) => e
            .iter()
            .all(|(key, value)| s.get(key).is_some_and(|found| holds(found, value))),
        (Value::Array(s), Value::Array(e)) => {
            s.len() == e.len() && s.iter().zip(e).all(|(s, e)| holds(s, e))
        }
        (Value::Number(s), Value::Number(e)) => s.as_f64() == e.as_f64(),
        (s, e) => s == e,
    }
}

#[tokio::test]
#[ignore = "envtest: needs etcd and kube-apiserver (KUBEBUILDER_ASSETS); scripts/test runs it"]
async fn every_example_applies_to_a_fresh_cluster_and_beside_the_others() {
    let tools = k8s_tools();
    let server = support::envtest::fresh_api_server(true).await;
    let home = scratch("home-examples");
    let env = [
        (
            "KUBECONFIG",
            server.dir.join("admin.kubeconfig").display().to_string(),
        ),
        ("HOME", home.display().to_string()),
    ];
    let kubectl = |args: &[&str]| kubectl(&tools, &env, "", args);
    let mut files: Vec<String> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml"))
        .map(|name| format!("examples/{name}"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    // As the README says to apply them, one after another; each one's objects as written.
    let mut applied: Vec<(String, Value)> = Vec::new();
    let mut apply = |flag: &str, what: &str, objects: String| {
        kubectl(&["apply", flag, what]);
        for document in serde_yaml::Deserializer::from_str(&objects) {
            let object: Value = serde::Deserialize::deserialize(document).unwrap();
            if !object.is_null() {
                applied.push((what.to_owned(), object));
            }
        }
    };
    for file in &files {
        apply(
            "-f",
            file,
            std::fs::read_to_string(root().join(file)).unwrap(),
        );
    }
    for overlay in [
        "examples/gitops/overlays/prod",
        "examples/gitops/overlays/staging",
    ] {
        apply("-k", overlay, kubectl(&["kustomize", overlay]));
    }
    // None changed another's objects: each is on the server as its example wrote it.
    let mut guards = 0;
    for (example, object) in &applied {
        let kind = object["kind"].as_str().unwrap();
        let name = object["metadata"]["name"].as_str().unwrap();
        let mut args = vec!["get", kind, name, "-o", "json"];
        if let Some(namespace) = object["metadata"]["namespace"].as_str() {
            args.extend(["-n", namespace]);
        }
        let found: Value = serde_json::from_str(&kubectl(&args)).unwrap();
        for part in ["spec", "metadata"]
            .into_iter()
            .filter(|p| !object[p].is_null())
        {
            let mut wanted = object[part].clone();
            if let Some(meta) = wanted.as_object_mut() {
                meta.remove("annotations");
            }
            assert!(
                holds(&found[part], &wanted),
                "{example}: {kind} {name}: the server has {}, the example {}",
                found[part],
                wanted
            );
        }
        guards += usize::from(kind == "ApiGatewayGuard");
    }
    assert!(guards >= 6, "{guards} guards applied");
}

/// The README's table of controls has a row for each control, saying what it keeps as its
/// declaration does, under its status condition, and no other row but the deployment's verdict
/// (no control of the stage).
#[test]
fn the_readmes_table_of_controls_is_the_declared_controls() {
    use apigw_guard::core::plan::Control;
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let (_, table) = readme
        .split_once("| control | REST API (`spec.restApi`) | HTTP API (`spec.httpApi`) | WebSocket API (`spec.websocketApi`) | status condition |\n|---|---|---|---|---|\n")
        .expect("README.md has the table of controls");
    // Each row: what the control keeps, as its declaration says, under its condition.
    let mut shown: Vec<(String, String)> = table
        .lines()
        .take_while(|line| line.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.trim_matches('|').split(" | ").collect();
            let condition = cells.last().unwrap().trim().trim_matches('`').to_owned();
            (condition, cells[0].trim().to_owned())
        })
        .filter(|(condition, _)| condition != "DeploymentVerified")
        .collect();
    shown.sort();
    let mut declared: Vec<(String, String)> = Control::ALL
        .iter()
        .map(|c| {
            let declared = c.declared();
            (declared.condition.to_owned(), declared.summary.to_owned())
        })
        .collect();
    declared.sort();
    assert_eq!(shown, declared);
    assert!(table.contains("| `DeploymentVerified` |"));
}
