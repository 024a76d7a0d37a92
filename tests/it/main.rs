//! The integration tests, one binary: each module is one area (a command, a controller, the
//! local AWS, the API server), and `support` holds what they share (the local AWS, envtest's
//! API server, builders). One binary links the AWS SDK once, and starts one local AWS and one
//! API server for every test that needs them.

mod support;

mod accounts;
mod cli;
mod cli_help;
mod cli_logs;
mod controller;
mod crd;
mod deploy;
mod diagnose;
mod envtest;
mod faults;
mod grafana;
mod invalid;
mod layering;
mod policy;
mod readme;
mod reconcile;
mod restart;
mod scopes;
mod shared;
mod skips;
mod verdicts;
