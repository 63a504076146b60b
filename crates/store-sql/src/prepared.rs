//! Writes on the hot path as statements each connection prepares once.
//!
//! Diesel never caches the UPDATE or INSERT statements it builds: a
//! changeset may skip its `None` fields, so one Rust type can stand for
//! different SQL. Each such write is therefore parsed and planned again on
//! every call, and on PostgreSQL prepared in a round trip of its own before
//! it runs (the statement log shows a new `sN` for every execution). The
//! rotation of a refresh family runs on every refresh, so its SQL is
//! written out here: every column is always set, the text never varies, and
//! a static query id tells diesel it may keep the prepared statement. That
//! halves the round trips of a rotation's write on PostgreSQL and spares
//! both backends the parse and plan (issue 16's measurements).

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::result::QueryResult;
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Binary, Bool, HasSqlType, Nullable};

use crate::codec::sql::{SqlTime, SqlUuid};
use crate::codec::{DbTime, DbUuid};
use crate::rows::FamilyRow;

/// `UPDATE grants SET <the family> WHERE id = ? AND refresh_generation = ?
/// AND refresh_hash = ? AND revoked_at IS NULL`: the conditional write of a
/// rotation. It matches one row only if the family is still as it was read
/// and the grant is not revoked; the caller counts the rows it changed.
///
/// It writes only columns no index covers, so PostgreSQL can keep it a
/// heap-only update (see the `refresh_hot_updates` migration).
pub struct RotateFamily<'a> {
    /// The grant (family) to write.
    pub id: &'a DbUuid,
    /// The generation as read.
    pub generation: &'a i64,
    /// The current token's hash as read.
    pub current: &'a [u8],
    /// The family to write.
    pub next: &'a FamilyRow,
}

/// The query id of [`RotateFamily`]: one statement, whatever it binds.
#[derive(Debug)]
pub struct RotateFamilyQuery;

/// Names the family only: the row carries token hashes.
impl std::fmt::Debug for RotateFamily<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotateFamily")
            .field("id", &self.id.0)
            .field("generation", self.generation)
            .finish_non_exhaustive()
    }
}

impl QueryId for RotateFamily<'_> {
    type QueryId = RotateFamilyQuery;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<DB> QueryFragment<DB> for RotateFamily<'_>
where
    DB: Backend
        + HasSqlType<BigInt>
        + HasSqlType<Binary>
        + HasSqlType<Bool>
        + HasSqlType<SqlTime>
        + HasSqlType<SqlUuid>,
    i64: ToSql<BigInt, DB>,
    [u8]: ToSql<Binary, DB>,
    Vec<u8>: ToSql<Binary, DB>,
    bool: ToSql<Bool, DB>,
    DbTime: ToSql<SqlTime, DB>,
    DbUuid: ToSql<SqlUuid, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let next = self.next;
        out.push_sql("UPDATE grants SET refresh_generation = ");
        out.push_bind_param::<Nullable<BigInt>, _>(&next.refresh_generation)?;
        out.push_sql(", refresh_hash = ");
        out.push_bind_param::<Nullable<Binary>, _>(&next.refresh_hash)?;
        out.push_sql(", refresh_issued_at = ");
        out.push_bind_param::<Nullable<SqlTime>, _>(&next.refresh_issued_at)?;
        out.push_sql(", refresh_expires_at = ");
        out.push_bind_param::<Nullable<SqlTime>, _>(&next.refresh_expires_at)?;
        out.push_sql(", refresh_previous = ");
        out.push_bind_param::<Nullable<Binary>, _>(&next.refresh_previous)?;
        out.push_sql(", refresh_rotated_at = ");
        out.push_bind_param::<Nullable<SqlTime>, _>(&next.refresh_rotated_at)?;
        out.push_sql(", refresh_grace_used = ");
        out.push_bind_param::<Bool, _>(&next.refresh_grace_used)?;
        out.push_sql(" WHERE id = ");
        out.push_bind_param::<SqlUuid, _>(self.id)?;
        out.push_sql(" AND refresh_generation = ");
        out.push_bind_param::<BigInt, _>(self.generation)?;
        out.push_sql(" AND refresh_hash = ");
        out.push_bind_param::<Binary, _>(self.current)?;
        out.push_sql(" AND revoked_at IS NULL");
        Ok(())
    }
}
