//! `apigw-guard verify`: the verdict on the deployment each guard's stage serves now, for a
//! pipeline that has just deployed. Read-only: a rollback is the operator's.

use std::time::Duration;

use clap::Args;
use kube::ResourceExt;

use super::{File, FileArgs};
use crate::aws::CallLog;
use crate::cli::manifest;
use crate::core::crd::{ApiGatewayGuardStatus, DeploymentStatus};
use crate::core::deploys::{BASELINE, REGRESSED, VERIFIED, VERIFYING, rfc3339};
use crate::core::model::GuardId;
use crate::k8s::operator::parse_duration;
use crate::reconcile;

/// `verify`: the guards' file, and whether to wait for the verdicts.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    file: FileArgs,
    /// Wait until every guard's deployment is verified or has regressed, printing progress;
    /// without it, one look (exit 0 only when every deployment is verified).
    #[arg(long)]
    wait: bool,
    /// How often to look while waiting (e.g. 30s, 1m).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    interval: Duration,
    /// The deployment the pipeline made (CreateDeployment's id): a stage that serves another
    /// (rolled back, or deployed again) fails. Without it, the deployment served at the first
    /// look is the one judged, and a stage that leaves it while waiting fails.
    #[arg(long)]
    deployment: Option<String>,
}

/// Verifies, for each guard in the file with `spec.deployments`, the deployment its stage
/// serves, over the window from when the stage took it (its lastUpdatedDate). `Ok(true)`
/// when every one is verified, `Ok(false)` when one regressed (or, without `--wait`, is
/// still being verified).
pub async fn verify(args: &VerifyArgs) -> Result<bool, String> {
    let manifest = manifest::load(&args.file.file).map_err(|e| e.to_string())?;
    let mut guards: Vec<_> = manifest
        .guards
        .into_iter()
        .filter(|g| g.spec.controls.deployments.is_some())
        .collect();
    if guards.is_empty() {
        return Err(format!(
            "{}: no ApiGatewayGuard with spec.deployments",
            args.file.file.display()
        ));
    }
    let regional = args.file.aws.clients().await;
    if let Some(guard) = guards
        .iter()
        .find(|g| !regional.has_region(g.spec.region.as_deref()))
    {
        return Err(format!(
            "guard {}: no AWS region; set spec.region, --region or AWS_REGION",
            guard.name_any()
        ));
    }
    // Every deployment is judged from when the stage took it, as if the guard's status held
    // a deployment from the start of time: nothing before is known.
    let from_the_start = DeploymentStatus {
        since: rfc3339(0),
        verdict: BASELINE.to_owned(),
        ..Default::default()
    };
    for guard in &mut guards {
        guard.status = Some(ApiGatewayGuardStatus {
            deployment: Some(from_the_start.clone()),
            ..Default::default()
        });
    }
    // Read-only: no rivals to yield to.
    let scope = File::reading(&manifest.accounts);
    // The deployment each guard's verdict is about: the one given, or the first one seen.
    let mut judged: Vec<Option<String>> = vec![args.deployment.clone(); guards.len()];
    loop {
        let (mut waiting, mut all_ok) = (false, true);
        for (guard, judged) in guards.iter().zip(judged.iter_mut()) {
            let id = GuardId::of(guard);
            let calls = CallLog::default();
            let report =
                reconcile::guard(&scope, &regional, guard, reconcile::Mode::Plan, &calls).await;
            if let Err(err) = &report.observed {
                println!("{id}: {err}");
                all_ok = false;
                continue;
            }
            let verified = report.deployment;
            let Some(verified) = verified else {
                println!("{id}: the stage serves no deployment");
                all_ok = false;
                continue;
            };
            let status = verified.status;
            let expected = judged.get_or_insert_with(|| status.id.clone());
            if *expected != status.id {
                println!(
                    "{id}: the stage serves deployment {}, not {expected}: it was rolled back \
                     (see the guard's status.deployment) or deployed again",
                    status.id
                );
                all_ok = false;
                continue;
            }
            // The operator rolls back; this command only reports.
            let message = status
                .message
                .split("; not rolled back")
                .next()
                .unwrap_or_default();
            println!(
                "{id}: deployment {}: {}: {message}",
                status.id, status.verdict
            );
            match status.verdict.as_str() {
                VERIFIED => {}
                VERIFYING => waiting = true,
                REGRESSED => all_ok = false,
                _ => all_ok = false,
            }
        }
        if !all_ok {
            return Ok(false);
        }
        if !waiting {
            return Ok(true);
        }
        if !args.wait {
            return Ok(false);
        }
        tokio::time::sleep(args.interval).await;
    }
}
