//! The shared port implementations, instantiated for SQLite: UUIDs, times,
//! JSON and lists travel as text (see `gatehouse_store_sql::codec`), and
//! write transactions begin with `BEGIN IMMEDIATE`.

gatehouse_store_sql::sql_store! {
    store: crate::SqliteStore,
    connection: diesel_async::sync_connection_wrapper::SyncConnectionWrapper<diesel::SqliteConnection>,
    write_transaction: immediate_transaction,
    uuid: diesel::sql_types::Text,
    time: diesel::sql_types::Text,
    json: diesel::sql_types::Text,
    list: diesel::sql_types::Text,
}
