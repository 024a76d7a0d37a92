//! `spec.deployments`: every new deployment of the stage verified for a while, and rolled
//! back when it regresses.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How a guard treats the stage's deployments.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(validation = Rule::new("duration(self.verifyFor) >= duration('1m') && duration(self.verifyFor) <= duration('24h')")
    .message("spec.deployments.verifyFor: from 1m to 24h, e.g. 30m"))]
pub struct DeploymentsSpec {
    /// How long each new deployment is watched: minutes or hours, e.g. 30m (the runbook's
    /// 30 minutes, the default), 90m, 2h. From 1m to 24h.
    #[serde(default = "thirty_minutes")]
    #[schemars(regex(pattern = r"^[1-9][0-9]{0,3}(m|h)$"))]
    pub verify_for: String,
    /// Off (the default): a regression is reported and nothing is written. Auto: the stage is
    /// pointed back at the deployment it served before (one UpdateStage), once per
    /// deployment, never to a deployment that itself regressed. Quote "Off" in YAML: YAML 1.1
    /// readers such as kubectl take a bare Off for false.
    #[serde(default)]
    pub rollback: Rollback,
}

fn thirty_minutes() -> String {
    "30m".to_owned()
}

/// Whether a regressed deployment is rolled back.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Rollback {
    /// Report the regression; write nothing.
    #[default]
    Off,
    /// Point the stage back at its previous deployment.
    Auto,
}

impl DeploymentsSpec {
    /// `verifyFor` in seconds; `None` when it is not minutes or hours.
    pub fn verify_for_seconds(&self) -> Option<i64> {
        let text = self.verify_for.as_str();
        let (number, unit) = text.split_at(text.len().checked_sub(1)?);
        let number: i64 = number.parse().ok()?;
        match unit {
            "m" => Some(number * 60),
            "h" => Some(number * 3600),
            _ => None,
        }
    }
}

/// The deployment the stage serves, as the guard verifies it.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStatus {
    /// The deployment the stage serves.
    pub id: String,
    /// The deployment it served before: the one a rollback goes back to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_id: Option<String>,
    /// When the stage took this deployment (RFC 3339): the verification window starts here,
    /// and the same minutes before it are the baseline.
    pub since: String,
    /// Baseline (the deployment the guard found, not verified), Verifying, Verified,
    /// Regressed or RolledBack.
    pub verdict: String,
    /// Why, with the evidence: which figure, how far over the baseline, since when.
    #[serde(default)]
    pub message: String,
    /// Deployments that regressed on this stage: never rolled back to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regressed: Vec<String>,
    /// The canary release on the stage, when one is active (never promoted by the guard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStatus>,
}

/// A stage's active canary release.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStatus {
    /// The deployment the canary serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    /// Its share of the stage's traffic, in percent.
    pub percent_traffic: f64,
}
