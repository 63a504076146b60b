//! `StreamStore` (Shared Signals streams) on a diesel backend.

/// Implementation detail of [`sql_store!`](crate::sql_store).
#[doc(hidden)]
#[macro_export]
macro_rules! __sql_streams {
    (store: $store:ty, connection: $connection:ty, write_transaction: $tx:path $(,)?) => {
        #[async_trait::async_trait]
        impl gatehouse_core::ports::StreamStore for $store {
            async fn insert_stream(
                &self,
                stream: &gatehouse_core::model::Stream,
            ) -> Result<(), StoreError> {
                let row = StreamRow::new(stream)?;
                self.write(async move |conn: &mut $connection| {
                    diesel::insert_into(ssf_streams::table)
                        .values(&row)
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| {
                            if error::is_foreign_key_violation(&e) {
                                StoreError::NotFound("client")
                            } else {
                                error::conflict("stream")(e)
                            }
                        })?;
                    Ok(())
                })
                .await
            }

            async fn get_stream(
                &self,
                id: gatehouse_core::model::StreamId,
            ) -> Result<Option<gatehouse_core::model::Stream>, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    let row: Option<StreamRow> = ssf_streams::table
                        .find(DbUuid(id.0))
                        .select(StreamRow::as_select())
                        .get_result(&mut *conn)
                        .await
                        .optional()
                        .map_err(error::unexpected)?;
                    row.map(StreamRow::into_domain).transpose()
                })
                .await
            }

            async fn client_streams(
                &self,
                client: &ClientId,
            ) -> Result<Vec<gatehouse_core::model::Stream>, StoreError> {
                let client = client.as_str().to_owned();
                self.read(async move |conn: &mut $connection| {
                    let rows: Vec<StreamRow> = ssf_streams::table
                        .filter(ssf_streams::client_id.eq(&client))
                        .order((ssf_streams::created_at.asc(), ssf_streams::id.asc()))
                        .select(StreamRow::as_select())
                        .load(&mut *conn)
                        .await
                        .map_err(error::unexpected)?;
                    rows.into_iter().map(StreamRow::into_domain).collect()
                })
                .await
            }

            async fn update_stream(
                &self,
                stream: &gatehouse_core::model::Stream,
            ) -> Result<bool, StoreError> {
                let expected = stream.version;
                let row = StreamRow {
                    version: expected + 1,
                    ..StreamRow::new(stream)?
                };
                self.write(async move |conn: &mut $connection| {
                    let n = diesel::update(ssf_streams::table.find(row.id.clone()))
                        .filter(ssf_streams::version.eq(expected))
                        .set(&row)
                        .execute(&mut *conn)
                        .await
                        .map_err(error::unexpected)?;
                    Ok(n == 1)
                })
                .await
            }

            async fn delete_stream(
                &self,
                id: gatehouse_core::model::StreamId,
            ) -> Result<bool, StoreError> {
                self.write(async move |conn: &mut $connection| {
                    let n = diesel::delete(ssf_streams::table.find(DbUuid(id.0)))
                        .execute(&mut *conn)
                        .await
                        .map_err(error::unexpected)?;
                    Ok(n == 1)
                })
                .await
            }

            async fn due_push_streams(
                &self,
                now: OffsetDateTime,
                limit: u32,
            ) -> Result<Vec<gatehouse_core::model::Stream>, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    let rows: Vec<StreamRow> = ssf_streams::table
                        .filter(ssf_streams::method.eq("push"))
                        .filter(ssf_streams::status.eq("enabled"))
                        .filter(
                            ssf_streams::retry_at
                                .is_null()
                                .or(ssf_streams::retry_at.le(DbTime(now))),
                        )
                        .filter(
                            ssf_streams::lease_until
                                .is_null()
                                .or(ssf_streams::lease_until.le(DbTime(now))),
                        )
                        .order((ssf_streams::retry_at.asc(), ssf_streams::id.asc()))
                        .limit(i64::from(limit))
                        .select(StreamRow::as_select())
                        .load(&mut *conn)
                        .await
                        .map_err(error::unexpected)?;
                    rows.into_iter().map(StreamRow::into_domain).collect()
                })
                .await
            }

            async fn delete_idle_streams(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
                self.write(async move |conn: &mut $connection| {
                    let n = diesel::delete(
                        ssf_streams::table
                            .filter(ssf_streams::method.eq("poll"))
                            .filter(ssf_streams::last_polled_at.lt(DbTime(before))),
                    )
                    .execute(&mut *conn)
                    .await
                    .map_err(error::unexpected)?;
                    Ok(n as u64)
                })
                .await
            }
        }
    };
}
