//! What the command's logs look like where they are written to a file or a pipe.

use std::process::Command;

/// Text logs (the one-shot commands', and `run --log-format=text`) into a pipe, as into a file
/// or a log collector, carry no terminal colour codes.
#[test]
fn text_logs_into_a_pipe_have_no_colour_codes() {
    // Nothing listens on the discard port: every AWS call fails fast, with debug logs.
    let out = Command::new(env!("CARGO_BIN_EXE_apigw-guard"))
        .args([
            "diagnose",
            "--api",
            "x",
            "--stage",
            "prod",
            "--region",
            "us-east-1",
        ])
        .args(["--endpoint-url", "http://127.0.0.1:9"])
        .env("RUST_LOG", "debug")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_PROFILE")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(
        logs.lines().filter(|l| l.contains(" DEBUG ")).count() > 1,
        "{logs}"
    );
    assert!(!logs.contains('\u{1b}'), "colour codes in:\n{logs}");
}
