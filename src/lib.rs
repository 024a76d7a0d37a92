//! apigw-guard: keeps AWS API Gateway stages (REST and HTTP APIs) guarded against 5XX
//! incidents, as the API Gateway 5XX runbook's Prevention section prescribes.
//!
//! The crate is five layers, listed bottom-up, each under a line saying what it holds and
//! which layers it uses; a layer's own file (`core/mod.rs`, ...) lists its modules the same
//! way. A layer or module uses only what is listed above it, so the imports form no cycle;
//! `tests/it/layering.rs` fails when the code and these lines disagree.

// The pure core: the resources users write, AWS's state in the operator's words, and every decision made on them; no I/O. Uses: nothing.
pub mod core;
// AWS behind small traits: SDK adapters, shared reads, client-side quotas. Uses: core.
pub mod aws;
// One guard's reconcile (observe, plan, apply, verify its deployment) and a policy's discovery. Uses: core, aws.
pub mod reconcile;
// The operator in a cluster: the three controllers, the events inbox, metrics, `run`. Uses: core, aws, reconcile.
pub mod k8s;
// The command line: its arguments and the one-shot commands, from files. Uses: core, aws, reconcile, k8s.
pub mod cli;
