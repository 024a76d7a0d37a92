//! A test that cannot run here must say so: every test that uses the real API server
//! (`support::envtest::api_server()`) is `#[ignore]`d with one reason, so `cargo test` reports it
//! as ignored where envtest's binaries are missing instead of passing without having run, and
//! no other test is ignored, so `scripts/test` can run and count exactly those with
//! `--include-ignored` / `--ignored --list`.

use crate::support;

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, sorted.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// Each function of `source` (from one `fn` at the start of a line to the next) with the
/// attribute lines just above it.
fn functions(source: &str) -> Vec<(Vec<&str>, &str, String)> {
    let lines: Vec<&str> = source.lines().collect();
    let starts: Vec<usize> = (0..lines.len())
        .filter(|&i| {
            let line = lines[i].trim_start();
            line.starts_with("fn ") || line.starts_with("async fn ") || line.starts_with("pub fn ")
        })
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(n, &start)| {
            let end = starts.get(n + 1).copied().unwrap_or(lines.len());
            let attributes = lines[..start]
                .iter()
                .rev()
                .map(|line| line.trim())
                .take_while(|line| line.starts_with("#[") || line.starts_with("//"))
                .filter(|line| line.starts_with("#["))
                .collect();
            (
                attributes,
                lines[start].trim(),
                lines[start..end].join("\n"),
            )
        })
        .collect()
}

#[test]
fn every_test_against_the_api_server_is_ignored_with_the_envtest_reason_and_no_other_is() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let wanted = format!("#[ignore = {:?}]", support::envtest::IGNORED);
    let mut problems = Vec::new();
    let mut marked = 0;
    for path in [root.join("tests"), root.join("src")]
        .iter()
        .flat_map(|d| sources(d))
    {
        let source = std::fs::read_to_string(&path).unwrap();
        let file = path.strip_prefix(root).unwrap().display().to_string();
        for (attributes, signature, body) in functions(&source) {
            let is_test = attributes
                .iter()
                .any(|a| a.starts_with("#[test") || a.starts_with("#[tokio::test"));
            let ignore = attributes.iter().find(|a| a.starts_with("#[ignore"));
            let uses_server = !file.ends_with("skips.rs")
                && (body.contains("api_server().await") || body.contains("fresh_api_server("))
                && !signature.contains("fn api_server");
            match (is_test, uses_server, ignore) {
                (true, true, Some(a)) if *a == wanted => marked += 1,
                (true, true, _) => problems.push(format!(
                    "{file}: {signature} uses the API server without {wanted}"
                )),
                (_, false, Some(a)) => problems.push(format!(
                    "{file}: {signature} is {a}: only tests against the API server are ignored \
                     (scripts/test runs every ignored test as one of those)"
                )),
                _ => {}
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        marked >= 18,
        "only {marked} tests against the API server found"
    );
}
