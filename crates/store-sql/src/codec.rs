//! The four kinds of value whose column type differs per backend.
//!
//! The shared queries bind and read these newtypes; each backend maps them
//! to its own SQL type. PostgreSQL has proper types for all four (`uuid`,
//! `timestamptz`, `jsonb`, `text[]`) and the impls delegate to diesel's. SQLite
//! has none of them, so they travel as text in a form chosen to keep SQL
//! comparisons and ordering right:
//!
//! - a UUID as hyphenated lower-case hex, which sorts like its bytes (the
//!   order PostgreSQL uses, so listings tie-break identically);
//! - a time as UTC `YYYY-MM-DDTHH:MM:SS.ffffffZ`, fixed width, so text order
//!   is time order and `expires_at <= ?` works in SQL;
//! - JSON as its compact serialization; a list as a JSON array of strings.
//!
//! Both backends keep times to the microsecond, so a value written by one
//! instance reads back identically everywhere.

use diesel::deserialize::FromSqlRow;
use diesel::expression::AsExpression;
use time::OffsetDateTime;
use uuid::Uuid;

/// The SQL types of the four kinds of value, one type each for both
/// backends: diesel learns from each which type the backend has for it
/// (PostgreSQL by its OID, SQLite by its storage class), so one schema
/// serves both.
pub mod sql {
    use diesel::query_builder::QueryId;
    use diesel::sql_types::SqlType;

    /// A UUID: `uuid` on PostgreSQL, `TEXT` on SQLite.
    #[derive(Debug, Clone, Copy, Default, SqlType, QueryId)]
    #[cfg_attr(
        feature = "postgres",
        diesel(postgres_type(oid = 2950, array_oid = 2951))
    )]
    #[cfg_attr(feature = "sqlite", diesel(sqlite_type(name = "Text")))]
    pub struct SqlUuid;

    /// An instant: `timestamptz` on PostgreSQL, `TEXT` on SQLite.
    #[derive(Debug, Clone, Copy, Default, SqlType, QueryId)]
    #[cfg_attr(
        feature = "postgres",
        diesel(postgres_type(oid = 1184, array_oid = 1185))
    )]
    #[cfg_attr(feature = "sqlite", diesel(sqlite_type(name = "Text")))]
    pub struct SqlTime;

    /// A JSON document: `jsonb` on PostgreSQL, `TEXT` on SQLite.
    #[derive(Debug, Clone, Copy, Default, SqlType, QueryId)]
    #[cfg_attr(
        feature = "postgres",
        diesel(postgres_type(oid = 3802, array_oid = 3807))
    )]
    #[cfg_attr(feature = "sqlite", diesel(sqlite_type(name = "Text")))]
    pub struct SqlJson;

    /// A list of strings: `text[]` on PostgreSQL, `TEXT` holding a JSON
    /// array on SQLite.
    #[derive(Debug, Clone, Copy, Default, SqlType, QueryId)]
    #[cfg_attr(
        feature = "postgres",
        diesel(postgres_type(oid = 1009, array_oid = 1009))
    )]
    #[cfg_attr(feature = "sqlite", diesel(sqlite_type(name = "Text")))]
    pub struct SqlList;
}

/// A UUID column: `uuid` on PostgreSQL, text on SQLite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = sql::SqlUuid)]
pub struct DbUuid(pub Uuid);

/// A point in time: `timestamptz` on PostgreSQL, fixed-width UTC text on
/// SQLite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = sql::SqlTime)]
pub struct DbTime(pub OffsetDateTime);

/// A JSON document: `jsonb` on PostgreSQL, text on SQLite.
#[derive(Debug, Clone, PartialEq, AsExpression, FromSqlRow)]
#[diesel(sql_type = sql::SqlJson)]
pub struct DbJson(pub serde_json::Value);

/// An ordered list of strings: `text[]` on PostgreSQL, a JSON array on
/// SQLite.
#[derive(Debug, Clone, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = sql::SqlList)]
pub struct DbList(pub Vec<String>);

impl DbTime {
    /// The instant truncated to the microsecond, as both backends store it.
    pub fn micros(t: OffsetDateTime) -> Self {
        let t = t.to_offset(time::UtcOffset::UTC);
        let nanos = t.nanosecond();
        Self(t - time::Duration::nanoseconds(i64::from(nanos % 1_000)))
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use diesel::deserialize::{self, FromSql};
    use diesel::pg::{Pg, PgValue};
    use diesel::serialize::{self, Output, ToSql};
    use diesel::sql_types::{Array, Jsonb, Text, Timestamptz, Uuid};

    use super::sql::{SqlJson, SqlList, SqlTime, SqlUuid};
    use time::OffsetDateTime;

    use super::{DbJson, DbList, DbTime, DbUuid};

    impl ToSql<SqlUuid, Pg> for DbUuid {
        fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
            <uuid::Uuid as ToSql<Uuid, Pg>>::to_sql(&self.0, out)
        }
    }

    impl FromSql<SqlUuid, Pg> for DbUuid {
        fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
            <uuid::Uuid as FromSql<Uuid, Pg>>::from_sql(value).map(Self)
        }
    }

    impl ToSql<SqlTime, Pg> for DbTime {
        fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
            <OffsetDateTime as ToSql<Timestamptz, Pg>>::to_sql(&self.0, out)
        }
    }

    impl FromSql<SqlTime, Pg> for DbTime {
        fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
            <OffsetDateTime as FromSql<Timestamptz, Pg>>::from_sql(value).map(Self)
        }
    }

    impl ToSql<SqlJson, Pg> for DbJson {
        fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
            <serde_json::Value as ToSql<Jsonb, Pg>>::to_sql(&self.0, out)
        }
    }

    impl FromSql<SqlJson, Pg> for DbJson {
        fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
            <serde_json::Value as FromSql<Jsonb, Pg>>::from_sql(value).map(Self)
        }
    }

    impl ToSql<SqlList, Pg> for DbList {
        fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
            <Vec<String> as ToSql<Array<Text>, Pg>>::to_sql(&self.0, out)
        }
    }

    impl FromSql<SqlList, Pg> for DbList {
        fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
            <Vec<String> as FromSql<Array<Text>, Pg>>::from_sql(value).map(Self)
        }
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use diesel::backend::Backend;
    use diesel::deserialize::{self, FromSql};
    use diesel::serialize::{self, IsNull, Output, ToSql};
    use diesel::sql_types::Text;
    use diesel::sqlite::Sqlite;
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;
    use uuid::Uuid;

    use super::sql::{SqlJson, SqlList, SqlTime, SqlUuid};
    use super::{DbJson, DbList, DbTime, DbUuid};

    type RawValue<'a> = <Sqlite as Backend>::RawValue<'a>;

    fn text(value: RawValue<'_>) -> deserialize::Result<String> {
        <String as FromSql<Text, Sqlite>>::from_sql(value)
    }

    /// The fixed-width UTC form; `None` outside years 0–9999.
    pub(super) fn format_time(t: OffsetDateTime) -> Option<String> {
        let t = t.to_offset(time::UtcOffset::UTC);
        if !(0..=9999).contains(&t.year()) {
            return None;
        }
        Some(format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.microsecond()
        ))
    }

    impl ToSql<SqlUuid, Sqlite> for DbUuid {
        fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
            out.set_value(self.0.hyphenated().to_string());
            Ok(IsNull::No)
        }
    }

    impl FromSql<SqlUuid, Sqlite> for DbUuid {
        fn from_sql(value: RawValue<'_>) -> deserialize::Result<Self> {
            Ok(Self(Uuid::parse_str(&text(value)?)?))
        }
    }

    impl ToSql<SqlTime, Sqlite> for DbTime {
        fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
            let formatted = format_time(self.0).ok_or("time outside years 0 to 9999")?;
            out.set_value(formatted);
            Ok(IsNull::No)
        }
    }

    impl FromSql<SqlTime, Sqlite> for DbTime {
        fn from_sql(value: RawValue<'_>) -> deserialize::Result<Self> {
            Ok(Self(OffsetDateTime::parse(&text(value)?, &Rfc3339)?))
        }
    }

    impl ToSql<SqlJson, Sqlite> for DbJson {
        fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
            out.set_value(serde_json::to_string(&self.0)?);
            Ok(IsNull::No)
        }
    }

    impl FromSql<SqlJson, Sqlite> for DbJson {
        fn from_sql(value: RawValue<'_>) -> deserialize::Result<Self> {
            Ok(Self(serde_json::from_str(&text(value)?)?))
        }
    }

    impl ToSql<SqlList, Sqlite> for DbList {
        fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
            out.set_value(serde_json::to_string(&self.0)?);
            Ok(IsNull::No)
        }
    }

    impl FromSql<SqlList, Sqlite> for DbList {
        fn from_sql(value: RawValue<'_>) -> deserialize::Result<Self> {
            Ok(Self(serde_json::from_str(&text(value)?)?))
        }
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::sqlite::format_time;
    use super::*;

    #[test]
    fn sqlite_times_are_fixed_width_utc_so_text_order_is_time_order() {
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let earlier = format_time(t).unwrap();
        let later = format_time(t + time::Duration::microseconds(1)).unwrap();
        let much_later = format_time(t + time::Duration::days(400)).unwrap();
        assert_eq!(earlier, "2023-11-14T22:13:20.000000Z");
        assert_eq!(earlier.len(), later.len());
        assert!(earlier < later && later < much_later);
        let shifted = t.to_offset(time::UtcOffset::from_hms(5, 30, 0).unwrap());
        assert_eq!(format_time(shifted).unwrap(), earlier, "stored in UTC");
    }

    #[test]
    fn times_are_kept_to_the_microsecond() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
        assert_eq!(DbTime::micros(t).0.nanosecond(), 123_456_000);
    }
}
