//! Black-box integration tests of `certd`: each test starts its own server
//! (`certd serve`) on its own temp dir and talks HTTP to it.

mod database;
mod harness;

mod access_matrix;
mod audit_chain;
mod auth;
mod auto_approve;
mod backup;
mod bad_input;
mod cli;
mod console;
mod crash;
mod durability;
mod fuzz_http;
mod limits;
mod logs;
mod metrics;
mod nodes;
mod openapi;
mod operator;
mod order_revoke;
mod orders;
mod publication;
mod races;
mod readme;
mod requests;
mod revoke;
mod secrets;
mod untended;
mod user_admin;
mod webhooks;
