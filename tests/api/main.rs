//! Black-box integration tests of `certd`: each test starts its own server
//! (`certd serve`) on its own temp dir and talks HTTP to it.

mod database;
mod harness;
/// The DNS server the ACME tests validate through (the library's own
/// validation tests use the same file).
#[path = "../../src/validation/test_dns.rs"]
mod test_dns;

mod access_matrix;
mod acme_clients;
mod acme_protocol;
mod acme_protocol_bad_input;
mod acme_protocol_client;
mod acme_support;
mod audit_chain;
mod auth;
mod auto_approve;
mod backup;
mod bad_input;
mod blocked_keys;
mod ca_keys;
mod campaign_cli;
mod campaigns;
mod cli;
mod console;
mod crash;
mod durability;
mod eab;
mod fuzz_http;
mod issuance_batches;
mod limits;
mod logs;
mod metrics;
mod nodes;
mod ocsp_ahead;
mod openapi;
mod operator;
mod order_revoke;
mod orders;
mod publication;
mod races;
mod readme;
mod requests;
mod revocation_batches;
mod revoke;
mod secrets;
mod tls;
mod untended;
mod user_admin;
mod webhooks;
