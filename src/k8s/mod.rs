//! The operator in a cluster: the guard, AwsAccount and policy controllers, the events inbox
//! that turns CloudTrail events into reconciles, events and metrics, and `apigw-guard run`.

// Kubernetes events, a series only for repeats of one message. Uses: nothing.
pub mod recorder;
// Logs, Prometheus metrics, health endpoints. Uses: aws.
pub mod telemetry;
// What the three controllers share: one error type, one retry policy, events and status writes. Uses: recorder, core.
pub mod toolkit;
// Who may act in the cluster, and which guard keeps a shared stage: the cluster's scope of a reconcile. Uses: core, aws, reconcile.
pub mod tenants;
// The guard controller: finalizer, fair slots, status patch. Uses: recorder, telemetry, toolkit, tenants, core, aws, reconcile.
pub mod controller;
// The AwsAccount controller: assumes each role, reports the account reached. Uses: recorder, telemetry, toolkit, core, aws.
pub mod accounts;
// The ApiGatewayGuardPolicy controller: discovery, owned guards, counts. Uses: recorder, telemetry, toolkit, tenants, controller, core, aws, reconcile.
pub mod policies;
// The events inbox: long-polls SQS for CloudTrail events, triggers reconciles. Uses: telemetry, controller, policies, core, aws.
pub mod inbox;
// `apigw-guard run`: its arguments, the controllers, leader election, health server. Uses: recorder, telemetry, toolkit, tenants, controller, accounts, policies, inbox, core, aws.
pub mod operator;
