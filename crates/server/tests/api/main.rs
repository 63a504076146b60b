//! Gatehouse over HTTP: the seed's whole flow through the real pages, and
//! every error path a client can hit. One binary; each test gets its own
//! server on a free port with a fresh in-memory store.

// A failed unwrap in a test is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod account;
mod admin;
mod apps;
mod audit;
mod browser;
mod browser_passkeys;
mod browser_upstream;
mod cimd;
mod cli;
mod concurrency;
mod console;
mod csrf;
mod dcr;
mod default_resource;
mod doctor;
mod durability;
mod errors;
mod exchange;
mod fake_idp;
mod flow;
mod helpers;
mod hygiene;
mod invitations;
mod logs;
mod mcp;
mod metrics;
mod mfa;
mod oidc;
mod openapi;
mod passkeys;
mod platform;
mod registration;
mod revocation;
mod signals;
mod signin;
mod unvetted;
mod upstream;
