//! Gatehouse's HTTP server: configuration, the composition root, and the
//! actix-web handlers that put the core on the wire.

pub mod audit;
pub mod cli;
pub mod config;
pub mod doctor;
pub mod fetch;
pub mod hasher;
pub mod http;
pub mod metrics;
pub mod push;
pub mod startup;
pub mod telemetry;
pub mod upstream;

pub use config::Config;
pub use startup::Application;
