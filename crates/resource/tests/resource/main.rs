//! The crate against live (fake) authorization servers on loopback: one
//! test binary, one module per concern.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod signals;
mod verifier;
