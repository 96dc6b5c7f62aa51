//! certd: a certificate revocation service that speaks DigiCert CertCentral's
//! REST API and runs its own issuing CA.
//!
//! Layers, each knowing only the ones below it:
//! `api` (HTTP) → `service` (the rules) → `store` (SQL) and `ca` (keys, signing);
//! `publish` keeps the signed CRLs and OCSP responses that `api` serves.
//! `cli` wires them together.

// Only the command line is the crate's interface (the `certd` binary runs
// it); the benchmarks' seeders also need where a serial's CRL shard is.
// Everything else is `pub(crate)`, and the compiler holds us to it.
#![deny(unreachable_pub)]

mod acme;
mod api;
mod ca;
pub mod cli;
mod codes;
mod model;
mod publish;
mod service;
mod store;
mod throttle;
mod validation;
mod webhook;

pub use ca::{CRL_SHARDS, crl_shard_of};
