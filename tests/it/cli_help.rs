//! What `apigw-guard --help` and each command's help say, held to what the commands do.

use std::process::Command;

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_apigw-guard"))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// What `help` says from the line that starts (after indentation) with `start` up to the next
/// option: clap puts a long description on the lines below its option.
fn line(help: &str, start: &str) -> String {
    let mut lines = help
        .lines()
        .skip_while(|l| !l.trim_start().starts_with(start));
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("no line starting {start:?} in:\n{help}"));
    let rest = lines.take_while(|l| !l.trim_start().starts_with('-'));
    std::iter::once(first)
        .chain(rest)
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn crdgen_names_every_crd_it_prints() {
    let said = help(&["crdgen", "--help"]);
    let printed = Command::new(env!("CARGO_BIN_EXE_apigw-guard"))
        .arg("crdgen")
        .output()
        .unwrap();
    let printed = String::from_utf8(printed.stdout).unwrap();
    let kinds: Vec<&str> = printed
        .lines()
        .filter_map(|l| l.trim().strip_prefix("kind: "))
        .filter(|kind| *kind != "CustomResourceDefinition")
        .collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    for kind in kinds {
        assert!(
            said.contains(&format!("{kind},")) || said.contains(&format!("{kind})")),
            "{kind} is not named in:\n{said}"
        );
    }
}

#[test]
fn the_top_level_help_names_every_kind_run_reconciles() {
    let top = help(&["--help"]);
    let run = top
        .lines()
        .find(|l| l.trim_start().starts_with("run "))
        .unwrap();
    for kind in ["ApiGatewayGuard,", "ApiGatewayGuardPolicy", "AwsAccount"] {
        assert!(run.contains(kind), "{run}");
    }
}

#[test]
fn region_says_what_it_is_for_in_each_command() {
    let diagnose = help(&["diagnose", "--help"]);
    let region = line(&diagnose, "--region");
    assert!(region.contains("region of the stage"), "{region}");
    assert!(
        !region.contains("guards"),
        "diagnose reads one stage: {region}"
    );
    for command in ["plan", "reconcile", "run"] {
        let said = help(&[command, "--help"]);
        let region = line(&said, "--region");
        assert!(
            region.contains("guards whose spec names none"),
            "{command}: {region}"
        );
    }
}

#[test]
fn the_file_of_reconcile_and_plan_is_described_for_either() {
    for command in ["plan", "reconcile"] {
        let said = help(&[command, "--help"]);
        let file = line(&said, "-f, --filename");
        assert!(!file.contains("`plan`"), "{command}: {file}");
        assert!(file.contains("ApiGatewayGuardPolicy"), "{command}: {file}");
    }
}

#[test]
fn the_top_level_help_says_both_kinds_of_api() {
    let top = help(&["--help"]);
    assert!(top.contains("REST and HTTP APIs"), "{top}");
}
