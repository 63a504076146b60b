//! The behaviour every Gatehouse store adapter must show, written once.
//!
//! The port docs in `gatehouse_core::ports` say what an adapter guarantees;
//! this crate turns each promise into an executable check, so the memory
//! store (the fake the core is tested against) and the database adapters
//! cannot drift apart. An adapter's whole test file is one line:
//!
//! ```ignore
//! async fn fresh() -> gatehouse_store_contract::Stores {
//!     gatehouse_store_contract::Stores::from_one(MyStore::new())
//! }
//! gatehouse_store_contract::contract_tests!(fresh);
//! ```
//!
//! Each contract is also a public `async fn(Stores)`, to run one by hand
//! while debugging an adapter.
//!
//! A store that needs an outside service (a PostgreSQL server) may not be
//! available on every machine: its factory returns `Option<Stores>`, and
//! `None` (after printing why) ends that test early. Whether a missing
//! service is acceptable is the factory's decision, not this crate's.

// This crate is test code that happens to live in `src/`: a failed
// `expect` is a failed contract, reported with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use gatehouse_core::audit::AuditStore;
use gatehouse_core::ports::{
    ClientRepo, FactorRepo, IdentityRepo, KeyStore, OrgRepo, ResourceRepo, StoreError, StreamStore,
    TokenStore, UserRepo,
};

pub mod fixtures;
pub mod migration;

mod audit;
mod browser;
mod cascades;
mod clients;
mod codes;
mod factors;
mod grants;
mod identity;
mod invitations;
mod keys;
mod orgs;
mod passkeys;
mod purge;
mod resources;
mod rotation;
mod streams;
mod usage;
mod users;

pub use audit::*;
pub use browser::*;
pub use cascades::*;
pub use clients::*;
pub use codes::*;
pub use factors::*;
pub use grants::*;
pub use identity::*;
pub use invitations::*;
pub use keys::*;
pub use orgs::*;
pub use passkeys::*;
pub use purge::*;
pub use resources::*;
pub use rotation::*;
pub use streams::*;
pub use usage::*;
pub use users::*;

/// One adapter's ports, as the server would hold them.
///
/// A factory must hand every test a fresh, empty store (a new in-memory
/// store, a new database or schema): contracts count records and assume no
/// one else writes.
#[derive(Clone)]
pub struct Stores {
    /// Client registry.
    pub clients: Arc<dyn ClientRepo>,
    /// Users.
    pub users: Arc<dyn UserRepo>,
    /// Organizations and memberships.
    pub orgs: Arc<dyn OrgRepo>,
    /// Codes, grants, tokens, consents and sessions.
    pub tokens: Arc<dyn TokenStore>,
    /// Signing keys and the master key.
    pub keys: Arc<dyn KeyStore>,
    /// Protected resources.
    pub resources: Arc<dyn ResourceRepo>,
    /// The audit log.
    pub audit: Arc<dyn AuditStore>,
    /// Shared Signals streams.
    pub streams: Arc<dyn StreamStore>,
    /// Upstream identity providers and linked identities.
    pub identities: Arc<dyn IdentityRepo>,
    /// Second factors.
    pub factors: Arc<dyn FactorRepo>,
    /// Dropped after the ports: tears down what the factory set up for this
    /// one test (a scratch database, a temporary directory).
    guard: Option<Arc<dyn Any + Send + Sync>>,
}

impl Stores {
    /// Every port served by one adapter value.
    pub fn from_one<S>(store: S) -> Self
    where
        S: ClientRepo
            + UserRepo
            + OrgRepo
            + TokenStore
            + KeyStore
            + ResourceRepo
            + AuditStore
            + StreamStore
            + IdentityRepo
            + FactorRepo
            + 'static,
    {
        let store = Arc::new(store);
        Self {
            clients: store.clone(),
            users: store.clone(),
            orgs: store.clone(),
            tokens: store.clone(),
            resources: store.clone(),
            audit: store.clone(),
            streams: store.clone(),
            identities: store.clone(),
            factors: store.clone(),
            keys: store,
            guard: None,
        }
    }

    /// Keeps `guard` alive as long as these ports, and drops it after them:
    /// its `Drop` cleans up the test's scratch store.
    #[must_use]
    pub fn with_guard(mut self, guard: impl Any + Send + Sync) -> Self {
        self.guard = Some(Arc::new(guard));
        self
    }
}

/// What a [`contract_tests!`] factory may produce: the stores, or `None`
/// when the backend is unavailable and the test should end early (the
/// factory says why).
pub trait IntoStores {
    /// The stores to test, if any.
    fn into_stores(self) -> Option<Stores>;
}

impl IntoStores for Stores {
    fn into_stores(self) -> Option<Stores> {
        Some(self)
    }
}

impl IntoStores for Option<Stores> {
    fn into_stores(self) -> Option<Stores> {
        self
    }
}

impl fmt::Debug for Stores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stores").finish_non_exhaustive()
    }
}

/// Expands to one `#[tokio::test]` per contract, each running against a
/// fresh [`Stores`] from `$factory`: anything callable with no arguments
/// that returns a future of `Stores` or `Option<Stores>` (an `async fn`, or
/// `|| async { … }`); `None` skips the test.
///
/// The calling crate needs `tokio` (with `macros` and `rt-multi-thread`) as
/// a dev-dependency. Tests run on a four-worker runtime so the concurrency
/// contracts race for real.
#[macro_export]
macro_rules! contract_tests {
    ($factory:expr $(,)?) => {
        $crate::__contract_tests! {
            ($factory)
            // Clients.
            clients_round_trip_through_insert_get_update_and_delete
            a_client_id_can_be_registered_only_once
            changing_a_missing_client_reports_that_it_is_missing
            clients_are_listed_oldest_first
            a_client_record_keeps_every_registration_field
            // Users.
            users_round_trip_through_insert_get_update_and_delete
            an_email_address_belongs_to_one_user_only
            a_user_cannot_take_another_users_email
            admins_are_counted
            users_are_listed_oldest_first
            a_users_sign_in_epoch_is_kept
            // Organizations.
            an_organization_is_created_together_with_its_owner
            members_can_be_added_promoted_and_removed
            adding_a_member_needs_an_existing_organization_and_user
            deleting_an_organization_removes_its_memberships
            members_come_with_their_records_and_org_mates_once
            // Invitations.
            an_invitation_is_pending_until_answered
            accepting_an_invitation_makes_a_member_once
            an_invitation_is_accepted_once_under_concurrency
            an_invitation_needs_both_parties_and_can_be_deleted
            invitations_go_with_their_organization_and_invitee
            // Authorization codes.
            a_code_is_redeemed_once_then_reported_as_replayed
            a_code_keeps_its_sign_in_context_or_its_absence
            an_unknown_code_is_reported_unknown
            a_code_is_single_use_under_concurrency
            // Grants, refresh tokens, access-token revocation.
            a_grant_is_stored_with_its_first_refresh_token
            a_refresh_token_is_exchanged_for_its_successor
            presenting_a_rotated_refresh_token_revokes_its_family
            a_refresh_token_rotates_at_most_once_under_concurrency
            a_rotation_decides_against_the_family_as_it_is_not_as_it_was_seen
            an_expired_or_unknown_refresh_token_is_invalid
            revoking_a_grant_revokes_its_access_and_refresh_tokens
            a_revoked_access_token_is_denied_by_its_jti
            an_access_token_of_a_vanished_grant_counts_as_revoked
            a_rotated_refresh_token_may_be_replayed_once_within_the_grace_window
            a_replay_after_the_grace_window_revokes_the_family
            a_grace_replay_is_allowed_once_under_concurrency
            only_the_just_rotated_token_gets_the_grace_replay
            a_grace_replay_retires_the_branch_it_replaces
            a_token_spent_long_ago_is_still_reuse
            a_claim_the_family_never_issued_is_invalid_not_reuse
            a_successor_of_the_wrong_generation_is_stale
            a_legacy_token_rotates_into_the_current_form_and_its_reuse_is_caught
            revoking_a_users_tokens_ends_their_grants_and_sessions
            disconnecting_an_app_revokes_only_its_grants
            // Connected apps.
            live_grants_are_listed_per_user_and_per_client_newest_first
            last_used_times_only_move_forward
            disconnecting_an_app_forgets_only_its_consent
            signing_out_everywhere_ends_only_that_users_sessions
            a_registration_key_finds_the_oldest_dynamic_client
            idle_self_registered_clients_are_reaped_and_nothing_else
            revocations_are_read_in_order_after_a_cursor_and_purged_once_expired
            // Shared Signals streams.
            streams_round_trip_per_client_and_go_with_their_client
            a_stream_update_succeeds_only_on_the_version_read
            a_stream_is_updated_by_exactly_one_of_racing_writers
            only_due_enabled_push_streams_are_handed_out
            only_poll_streams_left_unpolled_are_reaped
            // Upstream identity providers and linked identities.
            identity_providers_round_trip_and_keep_unique_names
            an_upstream_identity_links_to_one_user_only
            links_go_with_their_owner_their_provider_or_an_unlink
            racing_links_of_one_identity_make_exactly_one
            // Second factors.
            an_authenticator_accepts_each_time_step_once
            a_recovery_code_is_spent_once_by_its_owner
            racing_uses_of_one_code_accept_exactly_one
            passkeys_round_trip_and_credential_ids_stay_unique
            a_passkey_challenge_is_taken_once_and_not_after_expiry
            racing_takes_of_one_challenge_yield_exactly_one
            // Protected resources.
            resources_round_trip_through_insert_get_update_and_delete
            a_resource_uri_belongs_to_one_resource_only
            resources_are_listed_oldest_first
            // Consents and sessions.
            a_consent_is_remembered_per_user_and_client_and_replaced
            a_session_is_found_until_it_expires_and_can_be_ended
            // Housekeeping.
            purging_removes_only_what_has_expired
            // Cascades.
            deleting_a_client_removes_its_codes_grants_tokens_and_consents
            deleting_a_user_removes_their_sessions_memberships_grants_and_consents
            // Keys.
            signing_keys_are_listed_newest_first_and_stay_listed_when_retired
            a_signing_key_id_can_be_stored_only_once
            the_first_master_key_stored_wins
            a_live_store_answers_a_ping
            // The audit log.
            audit_events_keep_every_field
            the_audit_log_pages_newest_first_without_gaps_or_repeats
            audit_queries_filter_by_kind_user_and_client
            purging_the_audit_log_removes_only_older_events
        }
    };
}

/// Implementation detail of [`contract_tests!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __contract_tests {
    (($factory:expr) $($name:ident)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let Some(stores) = $crate::IntoStores::into_stores(($factory)().await) else {
                    return;
                };
                $crate::$name(stores).await;
            }
        )*
    };
}

/// Starts `n` calls made by `call` at once and returns their results.
///
/// Each call runs on its own thread from the runtime's blocking pool, and a
/// `std` barrier releases them together, so they truly overlap even in a
/// store whose operations never yield. The runtime's I/O and timers keep
/// running on its workers, so database adapters work unchanged. The futures
/// must own what they use (`async move` over cloned `Arc`s).
pub async fn race<T, Fut>(n: usize, call: impl Fn(usize) -> Fut) -> Vec<T>
where
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let start = Arc::new(std::sync::Barrier::new(n));
    let runtime = tokio::runtime::Handle::current();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let start = start.clone();
            let runtime = runtime.clone();
            let call = call(i);
            tokio::task::spawn_blocking(move || {
                start.wait();
                runtime.block_on(call)
            })
        })
        .collect();
    futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|joined| joined.expect("a racing call panicked"))
        .collect()
}

/// Fails unless `result` is a [`StoreError::Conflict`].
#[track_caller]
pub(crate) fn assert_conflict<T: fmt::Debug>(result: Result<T, StoreError>, doing: &str) {
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "{doing}: expected Conflict, got {result:?}"
    );
}

/// Fails unless `result` is a [`StoreError::NotFound`].
#[track_caller]
pub(crate) fn assert_not_found<T: fmt::Debug>(result: Result<T, StoreError>, doing: &str) {
    assert!(
        matches!(result, Err(StoreError::NotFound(_))),
        "{doing}: expected NotFound, got {result:?}"
    );
}
