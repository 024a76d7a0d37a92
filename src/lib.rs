//! apigw-guard: keeps AWS API Gateway stages (REST and HTTP APIs) guarded against 5XX
//! incidents, as the API Gateway 5XX runbook's Prevention section prescribes.
//!
//! The modules are listed bottom-up, each under a line saying what it holds and which modules
//! it uses. A module uses only modules listed above it, so the imports form no cycle;
//! `tests/it/layering.rs` fails when the code and these lines disagree.

// The kinds of API and what differs between them, as data (one profile each). Uses: nothing.
pub mod kind;
// The resources users write (CRD types). Uses: kind.
pub mod crd;
// The AWS-facing vocabulary: observed and wanted state, errors, alarm ownership. Uses: crd, kind.
pub mod model;
// Checks of a spec that the CRD schema cannot express. Uses: crd, kind, model.
pub mod validate;
// Which guards may act through which AWS identity, on which APIs; pure. Uses: crd, model.
pub mod tenancy;
// What a policy covers: matching, its guards' names and specs, its status; pure. Uses: crd, model.
pub mod policy;
// CloudTrail and alarm events read for what they touch; pure. Uses: crd, model.
pub mod cloudtrail;
// Guards read from YAML files, checked as the API server would. Uses: crd, kind, model, validate.
pub mod manifest;
// The runbook's targets, error classes and resolutions; pure. Uses: model.
pub mod runbook;
// An objective's burn-rate alarms and error budget; pure. Uses: crd, model.
pub mod objective;
// A stage's deployments: a new one's window, its verdict, its rollback; pure. Uses: crd, model, runbook.
pub mod deploys;
// The guard's CloudWatch dashboard body and console links; pure. Uses: crd, model, runbook, objective.
pub mod dashboard;
// Pure planning: spec + observed -> ordered actions. Uses: crd, kind, model, objective, dashboard.
pub mod plan;
// What a guard's alarms and dashboard cost a month at list prices; pure. Uses: crd, model, plan.
pub mod cost;
// What one reconcile saw, planned and did, and what it leaves to retry; pure. Uses: crd, model, plan.
pub mod report;
// kstatus conditions from a reconcile report; pure. Uses: crd, model, runbook, objective, deploys, dashboard, plan, cost, report.
pub mod status;
// What a reconcile tells humans (Kubernetes events); pure. Uses: crd, model, plan, runbook, deploys, report.
pub mod events;
// SDK adapters behind small traits, shared reads, client-side quotas. Uses: crd, model.
pub mod aws;
// The stages a policy's selector matches, from shared listings. Uses: crd, model, policy, aws.
pub mod discovery;
// Observe, plan, apply for one guard. Uses: crd, kind, model, validate, tenancy, deploys, dashboard, plan, report, aws.
pub mod reconcile;
// The runbook's read-only diagnosis of one stage. Uses: crd, kind, model, runbook, aws.
pub mod diagnose;
// Kubernetes events, a series only for repeats of one message. Uses: nothing.
pub mod recorder;
// Logs, Prometheus metrics, health endpoints. Uses: aws.
pub mod telemetry;
// The kube-rs controller: finalizer, tenancy, rivals, status patch. Uses: crd, model, aws, tenancy, deploys, report, reconcile, status, events, recorder, telemetry.
pub mod controller;
// Arguments and the one-shot commands. Uses: crd, kind, model, validate, tenancy, policy, manifest, deploys, cost, report, status, aws, discovery, reconcile, diagnose, telemetry.
pub mod cli;
// The AwsAccount controller: assumes each role, reports the account reached. Uses: crd, model, aws, tenancy, status, recorder, telemetry, controller.
pub mod accounts;
// The ApiGatewayGuardPolicy controller: discovery, owned guards, counts. Uses: crd, model, aws, policy, discovery, status, recorder, telemetry, controller.
pub mod policies;
// The events inbox: long-polls SQS for CloudTrail events, triggers reconciles. Uses: crd, model, aws, cloudtrail, controller, policies, telemetry.
pub mod inbox;
// `apigw-guard run`: the controllers, leader election, health server. Uses: crd, aws, controller, accounts, policies, inbox, cli, recorder, telemetry.
pub mod operator;
