//! What the core reports as it works, for an operator's metrics.
//!
//! The core decides outcomes an HTTP layer cannot see: which grant a token
//! was issued for, that a refresh token was replayed and its family
//! revoked, how a sign-in ended. It reports them through the [`Observer`]
//! port; the server's adapter turns them into Prometheus counters. The calls
//! sit on the token path, so an implementation must be cheap and must never
//! block or fail.
//!
//! Unexpected store failures are counted process-wide instead
//! ([`store_errors`]): they surface as `?` conversions in every service
//! method, where no `Gatehouse` is at hand, and a store failure is a fact
//! about the process's database, as process metrics are.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::model::GrantType;

/// How a password sign-in ended (`gatehouse_sign_ins_total{result}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignInResult {
    /// The password was right.
    Succeeded,
    /// Unknown account or wrong password.
    Failed,
    /// Refused by the throttle before the password was checked.
    Throttled,
}

impl SignInResult {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            SignInResult::Succeeded => "succeeded",
            SignInResult::Failed => "failed",
            SignInResult::Throttled => "throttled",
        }
    }
}

/// Receives the core's outcomes. Every method has a no-op default, so an
/// embedder implements only what it counts.
pub trait Observer: Send + Sync + fmt::Debug {
    /// An access token was issued at the token endpoint for `grant`.
    fn token_issued(&self, grant: GrantType) {
        let _ = grant;
    }

    /// A rotated refresh token was presented again; its family is revoked.
    fn refresh_reuse_detected(&self) {}

    /// A password sign-in ended.
    fn sign_in(&self, result: SignInResult) {
        let _ = result;
    }
}

/// Counts nothing (the default for an embedded core).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl Observer for NoObserver {}

static STORE_ERRORS: AtomicU64 = AtomicU64::new(0);

/// Unexpected store failures (not conflicts or missing records) this process
/// has turned into errors since it started.
pub fn store_errors() -> u64 {
    STORE_ERRORS.load(Ordering::Relaxed)
}

/// Counts one unexpected store failure.
pub(crate) fn count_store_error() {
    STORE_ERRORS.fetch_add(1, Ordering::Relaxed);
}
