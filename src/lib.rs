//! certd: a certificate revocation service that speaks DigiCert CertCentral's
//! REST API and runs its own issuing CA.
//!
//! Layers, each knowing only the ones below it:
//! `api` (HTTP) → `service` (the rules) → `store` (SQL) and `ca` (keys, signing);
//! `publish` keeps the signed CRLs and OCSP responses that `api` serves.
//! `cli` wires them together.

pub mod api;
pub mod ca;
pub mod cli;
pub mod codes;
pub mod model;
pub mod publish;
pub mod service;
pub mod store;
pub mod webhook;
