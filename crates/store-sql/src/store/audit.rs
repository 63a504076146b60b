//! `AuditStore` (the audit log) on a diesel backend.

/// Implementation detail of [`sql_store!`](crate::sql_store).
#[doc(hidden)]
#[macro_export]
macro_rules! __sql_audit {
    (store: $store:ty, connection: $connection:ty, write_transaction: $tx:path $(,)?) => {
        #[async_trait::async_trait]
        impl gatehouse_core::audit::AuditStore for $store {
            async fn append_audit(
                &self,
                events: &[gatehouse_core::audit::AuditEvent],
            ) -> Result<(), StoreError> {
                if events.is_empty() {
                    return Ok(());
                }
                let rows: Vec<AuditRow> = events.iter().map(AuditRow::new).collect();
                self.write(async move |conn: &mut $connection| {
                    // One statement per event inside the write: SQLite's
                    // bound-parameter limit caps multi-row inserts.
                    $tx(conn, async move |c| {
                        for row in &rows {
                            diesel::insert_into(audit_events::table)
                                .values(row)
                                .execute(c)
                                .await?;
                        }
                        DbResult::Ok(())
                    })
                    .await
                    .map_err(error::unexpected)
                })
                .await
            }

            async fn list_audit(
                &self,
                query: &gatehouse_core::audit::AuditQuery,
            ) -> Result<Vec<gatehouse_core::audit::AuditEvent>, StoreError> {
                let query = query.clone();
                self.read(async move |conn: &mut $connection| {
                    let mut q = audit_events::table
                        .select(AuditRow::as_select())
                        .order((audit_events::at.desc(), audit_events::id.desc()))
                        .limit(i64::from(query.limit))
                        .into_boxed();
                    if let Some(kind) = query.kind {
                        q = q.filter(audit_events::kind.eq(kind.as_str()));
                    }
                    if let Some(user) = query.user_id {
                        q = q.filter(audit_events::user_id.eq(DbUuid(user.0)));
                    }
                    if let Some(client) = &query.client_id {
                        q = q.filter(audit_events::client_id.eq(client.as_str().to_owned()));
                    }
                    if let Some(before) = query.before {
                        let (at, id) = (DbTime(before.at), DbUuid(before.id));
                        q = q.filter(
                            audit_events::at
                                .lt(at)
                                .or(audit_events::at.eq(at).and(audit_events::id.lt(id))),
                        );
                    }
                    listed(q.load(&mut *conn).await)
                })
                .await
            }

            async fn purge_audit(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
                let before = DbTime(before);
                let mut purged = 0u64;
                loop {
                    // A write per batch: requests get the writer between
                    // batches, and no statement holds a long lock.
                    let deleted = self
                        .write(async move |conn: &mut $connection| {
                            let doomed: Vec<DbUuid> = audit_events::table
                                .select(audit_events::id)
                                .filter(audit_events::at.lt(before))
                                .limit($crate::PURGE_BATCH)
                                .load(&mut *conn)
                                .await
                                .map_err(error::unexpected)?;
                            diesel::delete(
                                audit_events::table.filter(audit_events::id.eq_any(doomed)),
                            )
                            .execute(&mut *conn)
                            .await
                            .map_err(error::unexpected)
                        })
                        .await?;
                    purged += u64::try_from(deleted).unwrap_or(0);
                    if i64::try_from(deleted).unwrap_or(i64::MAX) < $crate::PURGE_BATCH {
                        return Ok(purged);
                    }
                }
            }
        }
    };
}
