//! [`sql_store!`]: every storage port, written once for every diesel
//! backend. The macro is split by port, one file each, so no macro body is
//! long; what needs no connection type is plain code in `rows` and
//! `schema`.

mod audit;
mod clients;
mod factors;
mod helpers;
mod identity;
mod keys;
mod orgs;
mod rotation;
mod streams;
mod tokens;
mod users;

/// Implements every Gatehouse storage port for `$store` on a diesel backend.
///
/// Only what needs the concrete connection type is here: the port impls and
/// their transaction helpers. The schema ([`crate::schema`]), the rows and
/// their conversions ([`crate::rows`]) and the value codecs
/// ([`crate::codec`]) are plain code shared by both backends.
///
/// ```ignore
/// gatehouse_store_sql::sql_store! {
///     store: crate::PostgresStore,
///     connection: diesel_async::AsyncPgConnection,
///     write_transaction: diesel_async::AsyncConnection::transaction,
/// }
/// ```
///
/// - `store` must have a constant `REVOCATION_SETTLE` (see
///   [`TokenStore::revocation_settle`](gatehouse_core::ports::TokenStore::revocation_settle))
///   and two methods, `read(op)` and `write(op)`, that lend
///   a connection to an operation `async move |conn: &mut Conn| …` and run
///   it to completion whether or not the caller keeps waiting (PostgreSQL
///   spawns it as a task with a pooled connection, [`detached`](crate::detached);
///   SQLite runs writes on its writer thread with the one writing
///   connection, and reads in place, since a read in WAL mode never waits
///   for a lock). The connection is lent, not handed out: an operation
///   cannot keep it, and cannot reach the writer's outside a write.
/// - `write_transaction` names the function `(connection, async closure)`
///   that runs the closure in a write transaction:
///   `AsyncConnection::transaction` on PostgreSQL, a savepoint of the
///   writer's open `BEGIN IMMEDIATE` batch on SQLite (a deferred SQLite
///   transaction that reads first can fail with "database is locked" when it
///   then writes).
///
/// The invoking crate needs `diesel`, `diesel-async`, `async-trait`,
/// `gatehouse-core`, `time` and `uuid` as dependencies.
///
/// # Lookups
///
/// Every lookup is by a primary or unique key and uses `get_result`, never
/// `first`: `first` adds `LIMIT ?`, and SQLite's planner treats a bound
/// LIMIT as a value it may optimise for, so it re-prepares the statement on
/// every execution (a quarter of the writer's CPU in a refresh-token
/// rotation, found with perf).
///
/// # How the atomic operations work
///
/// Each is a single conditional statement, or a short transaction whose
/// first statement is that conditional write, so the database's row lock
/// (PostgreSQL) or write lock (SQLite) picks exactly one winner even across
/// processes:
///
/// - `take_code`: `UPDATE … SET spent = true WHERE hash = ? AND NOT spent
///   RETURNING …`; no row means a replay (or an unknown code).
/// - `rotate_refresh`: the family's next state is decided against the
///   family as read (by the caller, or here), then written with `UPDATE
///   grants SET … WHERE id = ? AND refresh_generation = ? AND refresh_hash
///   = ? AND revoked_at IS NULL` ([`crate::prepared::RotateFamily`]). A
///   loser of the race waits on the winner's row lock, matches nothing,
///   re-reads the family and finds its token just rotated: reuse (or the
///   one grace replay). Reuse revokes the family in its own transaction,
///   committed before the port returns, so the revocation stands although
///   the request fails.
/// - `master_key_or_init`: `INSERT … ON CONFLICT DO NOTHING`, then `SELECT`.
#[macro_export]
macro_rules! sql_store {
    (
        store: $store:ty,
        connection: $connection:ty,
        write_transaction: $tx:path,
    ) => {
        use diesel::prelude::{
            BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper,
        };
        use diesel::upsert::excluded;
        #[allow(unused_imports)]
        use diesel_async::AsyncConnection as _;
        use diesel_async::RunQueryDsl;
        use gatehouse_core::model::{
            AuthorizationCode, Client, ClientId, ClientOrigin, Consent, Email, Grant, GrantId,
            GrantsOf, Invitation, Membership, OrgId, OrgRole, Organization, PresentedRefresh,
            RefreshFamily, RefreshStanding, RefreshStep, Resource, ResourceId, Revocation, Role,
            Session, StoredKey, Usage, User, UserId,
        };
        use gatehouse_core::ports::{
            ClientRepo, CodeRedemption, KeyStore, OrgRepo, ResourceRepo, Rotation, StoreError,
            TokenStore, UserRepo,
        };
        use gatehouse_core::secret::TokenHash;
        use time::OffsetDateTime;
        use $crate::codec::{DbTime, DbUuid};
        use $crate::error;

        use $crate::rows::*;
        use $crate::schema::{
            audit_events, authorization_codes, clients, consents, denied_access_tokens, grants,
            identity_providers, invitations, linked_identities, master_key, memberships,
            organizations, passkey_challenges, passkeys, recovery_codes, refresh_tokens, resources,
            revocations, sessions, signing_keys, ssf_streams, totp_factors, users,
        };

        $crate::__sql_helpers! { store: $store, connection: $connection, write_transaction: $tx }
        $crate::__sql_clients! { store: $store, connection: $connection, write_transaction: $tx }
        $crate::__sql_users! { store: $store, connection: $connection, write_transaction: $tx }
        $crate::__sql_orgs! { store: $store, connection: $connection, write_transaction: $tx }
        $crate::__sql_rotation! { store: $store, connection: $connection, write_transaction: $tx }
        $crate::__sql_tokens! { store: $store, connection: $connection, write_transaction: $tx }
        $crate::__sql_keys! { store: $store, connection: $connection, write_transaction: $tx }
        $crate::__sql_audit! { store: $store, connection: $connection, write_transaction: $tx }
        $crate::__sql_streams! { store: $store, connection: $connection, write_transaction: $tx }
        $crate::__sql_identity! { store: $store, connection: $connection, write_transaction: $tx }
        $crate::__sql_factors! { store: $store, connection: $connection, write_transaction: $tx }
    };
}
