//! The shared port implementations, instantiated for PostgreSQL's types:
//! `uuid`, `timestamptz`, `jsonb` and `text[]`.

gatehouse_store_sql::sql_store! {
    store: crate::PostgresStore,
    connection: diesel_async::AsyncPgConnection,
    write_transaction: diesel_async::AsyncConnection::transaction,
    detach: detached,
    detach_read: detached,
    uuid: diesel::sql_types::Uuid,
    time: diesel::sql_types::Timestamptz,
    json: diesel::sql_types::Jsonb,
    list: diesel::sql_types::Array<diesel::sql_types::Text>,
}
