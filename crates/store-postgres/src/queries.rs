//! The shared port implementations, instantiated for PostgreSQL's types:
//! `uuid`, `timestamptz`, `jsonb` and `text[]`.

gatehouse_store_sql::sql_store! {
    store: crate::PostgresStore,
    connection: diesel_async::AsyncPgConnection,
    write_transaction: diesel_async::AsyncConnection::transaction,
}
