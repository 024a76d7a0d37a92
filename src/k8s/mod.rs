//! The operator in a cluster: the guard, AwsAccount and policy controllers, the events inbox
//! that turns CloudTrail events into reconciles, events and metrics, and `apigw-guard run`.

// Kubernetes events, a series only for repeats of one message. Uses: nothing.
pub mod recorder;
// Logs, Prometheus metrics, health endpoints. Uses: aws.
pub mod telemetry;
// Who may act in the cluster, and which guard keeps a shared stage: the cluster's scope of a reconcile. Uses: core, aws, reconcile.
pub mod tenants;
// The guard controller: finalizer, fair slots, backoff, status patch. Uses: recorder, telemetry, tenants, core, aws, reconcile.
pub mod controller;
// The AwsAccount controller: assumes each role, reports the account reached. Uses: recorder, telemetry, controller, core, aws.
pub mod accounts;
// The ApiGatewayGuardPolicy controller: discovery, owned guards, counts. Uses: recorder, telemetry, tenants, controller, core, aws, reconcile.
pub mod policies;
// The events inbox: long-polls SQS for CloudTrail events, triggers reconciles. Uses: telemetry, controller, policies, core, aws.
pub mod inbox;
// `apigw-guard run`: its arguments, the controllers, leader election, health server. Uses: recorder, telemetry, tenants, controller, accounts, policies, inbox, core, aws.
pub mod operator;
