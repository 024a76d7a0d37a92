//! apigw-guard: keeps AWS API Gateway REST API stages guarded against 5XX incidents, as the
//! API Gateway 5XX runbook's Prevention section prescribes.

pub mod aws;
pub mod cli;
pub mod controller;
pub mod crd;
pub mod diagnose;
pub mod events;
pub mod manifest;
pub mod plan;
pub mod reconcile;
pub mod runbook;
pub mod status;
pub mod telemetry;
pub mod validate;
