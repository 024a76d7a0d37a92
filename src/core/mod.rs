//! The pure core: no I/O. What users write (the CRDs), what AWS holds in the operator's words,
//! and every decision taken on them, each a function of its inputs: what to write (plan),
//! what to report (status, events), what a policy covers, who may act where, whether a
//! deployment regressed. Most tests live here.

// The kinds of API and what differs between them, as data (one profile each). Uses: nothing.
pub mod kind;
// The resources users write (CRD types). Uses: kind.
pub mod crd;
// The AWS-facing vocabulary: observed and wanted state, errors, alarm ownership. Uses: crd, kind.
pub mod model;
// Checks of a spec that the CRD schema cannot express. Uses: crd, kind, model.
pub mod validate;
// Which guards may act through which AWS identity, on which APIs. Uses: crd, model.
pub mod tenancy;
// What a policy covers: matching, its guards' names and specs, its status. Uses: crd, model.
pub mod policy;
// CloudTrail and alarm events read for what they touch. Uses: kind, crd, model.
pub mod cloudtrail;
// The runbook's targets, error classes and resolutions. Uses: model.
pub mod runbook;
// An objective's burn-rate alarms and error budget. Uses: crd, model.
pub mod objective;
// A stage's deployments: a new one's window, its verdict, its rollback. Uses: crd, model, runbook.
pub mod deploys;
// The guard's CloudWatch dashboard body and console links. Uses: kind, crd, model, runbook, objective.
pub mod dashboard;
// Planning: spec + observed -> ordered actions, one file per control: its declaration (section, condition, events, summary, cost) and its step. Uses: crd, kind, model, objective, dashboard.
pub mod plan;
// What one reconcile saw, planned and did, and what it leaves to retry. Uses: crd, model, plan.
pub mod report;
// kstatus conditions from a reconcile report. Uses: crd, model, runbook, objective, deploys, dashboard, plan, report.
pub mod status;
// What a reconcile tells humans (Kubernetes events). Uses: crd, model, plan, runbook, deploys, report.
pub mod events;
// Builders the core's tests share: a guard's id, a stage as AWS first makes it, a report, a value for each section. Uses: kind, crd, model, plan, report.
#[cfg(test)]
pub mod fixtures;
