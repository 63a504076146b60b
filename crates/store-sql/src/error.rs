//! Turning diesel's errors into the ports' [`StoreError`].
//!
//! Constraint violations are the database's way of enforcing the ports'
//! rules (a unique email, an existing parent), so they become `Conflict` and
//! `NotFound`; everything else is `Unexpected` with its cause kept.

use diesel::result::{DatabaseErrorKind, Error};
use gatehouse_core::ports::StoreError;

/// Anything the caller cannot act on.
pub fn unexpected(e: Error) -> StoreError {
    StoreError::Unexpected(anyhow::Error::new(e))
}

/// A failed row conversion: the database holds something no valid record
/// produces.
pub fn corrupt(what: &str) -> StoreError {
    StoreError::Unexpected(anyhow::anyhow!("a stored {what} is corrupt"))
}

/// A request the port refuses because it breaks the port's own rules.
pub fn invalid(why: &'static str) -> StoreError {
    StoreError::Unexpected(anyhow::anyhow!(why))
}

/// A pool that could not hand out a connection (database down, pool
/// exhausted past its wait timeout).
pub fn pool(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unexpected(anyhow::anyhow!("no database connection: {e}"))
}

/// Whether `e` is a violation of a unique or primary-key constraint.
pub fn is_unique_violation(e: &Error) -> bool {
    matches!(
        e,
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Whether `e` is a violation of a foreign key.
pub fn is_foreign_key_violation(e: &Error) -> bool {
    matches!(
        e,
        Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)
    )
}

/// Whether a constraint violation names `column` (PostgreSQL reports the
/// constraint, SQLite the `table.column` in its message).
pub fn violation_mentions(e: &Error, column: &str) -> bool {
    match e {
        Error::DatabaseError(_, info) => {
            info.constraint_name().is_some_and(|c| c.contains(column))
                || info.message().contains(column)
        }
        _ => false,
    }
}

/// `Conflict(what)` for a uniqueness violation, `Unexpected` otherwise.
pub fn conflict(what: &'static str) -> impl Fn(Error) -> StoreError {
    move |e| {
        if is_unique_violation(&e) {
            StoreError::Conflict(what)
        } else {
            unexpected(e)
        }
    }
}

/// `NotFound(parent)` for a foreign-key violation, `Conflict(what)` for a
/// uniqueness violation, `Unexpected` otherwise.
pub fn parent_or_conflict(
    parent: &'static str,
    what: &'static str,
) -> impl Fn(Error) -> StoreError {
    move |e| {
        if is_foreign_key_violation(&e) {
            StoreError::NotFound(parent)
        } else if is_unique_violation(&e) {
            StoreError::Conflict(what)
        } else {
            unexpected(e)
        }
    }
}
