//! The shared port implementations, instantiated for SQLite: UUIDs, times,
//! JSON and lists travel as text (see `gatehouse_store_sql::codec`), and
//! writes run in savepoints of group-committed batches (`crate::writer`).

gatehouse_store_sql::sql_store! {
    store: crate::SqliteStore,
    connection: crate::blocking::Conn,
    write_transaction: crate::writer::in_savepoint,
}
