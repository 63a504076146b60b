//! `ClientRepo` and `ResourceRepo` on a diesel backend.

/// Implementation detail of [`sql_store!`](crate::sql_store).
#[doc(hidden)]
#[macro_export]
macro_rules! __sql_clients {
    (store: $store:ty, connection: $connection:ty, write_transaction: $tx:path $(,)?) => {
        #[async_trait::async_trait]
        impl ClientRepo for $store {
            async fn insert_client(&self, client: &Client) -> Result<(), StoreError> {
                let row = ClientRow::new(client);
                self.write(async move |conn: &mut $connection| {
                    diesel::insert_into(clients::table)
                        .values(&row)
                        .execute(&mut *conn)
                        .await
                        .map_err(error::conflict("client"))?;
                    Ok(())
                })
                .await
            }

            async fn get_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
                let id = id.as_str().to_owned();
                self.read(async move |conn: &mut $connection| {
                    found(
                        clients::table
                            .find(&id)
                            .select(ClientRow::as_select())
                            .get_result(&mut *conn)
                            .await,
                    )
                })
                .await
            }

            async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    listed(
                        clients::table
                            .order((clients::created_at.asc(), clients::id.asc()))
                            .select(ClientRow::as_select())
                            .load(&mut *conn)
                            .await,
                    )
                })
                .await
            }

            async fn update_client(&self, client: &Client) -> Result<(), StoreError> {
                let row = ClientRow::new(client);
                self.write(async move |conn: &mut $connection| {
                    let changed = diesel::update(clients::table.find(&row.id))
                        .set(&row)
                        .execute(&mut *conn)
                        .await
                        .map_err(error::unexpected)?;
                    if changed == 0 {
                        return Err(StoreError::NotFound("client"));
                    }
                    Ok(())
                })
                .await
            }

            async fn delete_client(&self, id: &ClientId) -> Result<bool, StoreError> {
                // Codes, grants (with their refresh tokens) and consents go
                // with it through ON DELETE CASCADE.
                let id = id.as_str().to_owned();
                self.write(async move |conn: &mut $connection| {
                    let deleted = diesel::delete(clients::table.find(&id))
                        .execute(&mut *conn)
                        .await
                        .map_err(error::unexpected)?;
                    Ok(deleted > 0)
                })
                .await
            }
            async fn client_by_registration_key(
                &self,
                key: &TokenHash,
            ) -> Result<Option<Client>, StoreError> {
                let key = hash_bytes(key);
                self.read(async move |conn: &mut $connection| {
                    found(
                        clients::table
                            .filter(clients::registration_key.eq(&key))
                            .filter(clients::origin.eq(ClientOrigin::Dynamic.as_str()))
                            .order((clients::created_at.asc(), clients::id.asc()))
                            .select(ClientRow::as_select())
                            .first(&mut *conn)
                            .await,
                    )
                })
                .await
            }

            async fn delete_idle_clients(
                &self,
                idle_before: OffsetDateTime,
                limit: u32,
            ) -> Result<Vec<ClientId>, StoreError> {
                let cutoff = DbTime(idle_before);
                self.write(async move |conn: &mut $connection| {
                    let c: &mut $connection = &mut *conn;
                    let ids: Vec<String> = $tx(c, async move |c| {
                        let live = diesel::dsl::exists(
                            grants::table
                                .filter(grants::client_id.eq(clients::id))
                                .filter(grants::revoked_at.is_null()),
                        );
                        let ids: Vec<String> = clients::table
                            .filter(clients::origin.ne(ClientOrigin::Admin.as_str()))
                            .filter(
                                clients::last_used_at
                                    .lt(Some(cutoff))
                                    .or(clients::last_used_at
                                        .is_null()
                                        .and(clients::created_at.lt(cutoff))),
                            )
                            .filter(diesel::dsl::not(live))
                            .order((clients::created_at.asc(), clients::id.asc()))
                            .limit(i64::from(limit))
                            .select(clients::id)
                            .load(c)
                            .await?;
                        // Codes, grants (with refresh tokens) and consents go
                        // with them through ON DELETE CASCADE.
                        diesel::delete(clients::table.filter(clients::id.eq_any(&ids)))
                            .execute(c)
                            .await?;
                        DbResult::Ok(ids)
                    })
                    .await
                    .map_err(error::unexpected)?;
                    ids.iter()
                        .map(|id| ClientId::parse(id).map_err(|_| error::corrupt("client")))
                        .collect()
                })
                .await
            }
        }

        #[async_trait::async_trait]
        impl ResourceRepo for $store {
            async fn insert_resource(&self, resource: &Resource) -> Result<(), StoreError> {
                let row = ResourceRow::new(resource);
                self.write(async move |conn: &mut $connection| {
                    diesel::insert_into(resources::table)
                        .values(&row)
                        .execute(&mut *conn)
                        .await
                        .map_err(error::conflict("resource"))?;
                    Ok(())
                })
                .await
            }

            async fn get_resource(&self, id: ResourceId) -> Result<Option<Resource>, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    found(
                        resources::table
                            .find(DbUuid(id.0))
                            .select(ResourceRow::as_select())
                            .get_result(&mut *conn)
                            .await,
                    )
                })
                .await
            }

            async fn get_resource_by_uri(&self, uri: &str) -> Result<Option<Resource>, StoreError> {
                let uri = uri.to_owned();
                self.read(async move |conn: &mut $connection| {
                    found(
                        resources::table
                            .filter(resources::uri.eq(&uri))
                            .select(ResourceRow::as_select())
                            .get_result(&mut *conn)
                            .await,
                    )
                })
                .await
            }

            async fn list_resources(&self) -> Result<Vec<Resource>, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    listed(
                        resources::table
                            .order((resources::created_at.asc(), resources::id.asc()))
                            .select(ResourceRow::as_select())
                            .load(&mut *conn)
                            .await,
                    )
                })
                .await
            }

            async fn update_resource(&self, resource: &Resource) -> Result<(), StoreError> {
                let row = ResourceRow::new(resource);
                self.write(async move |conn: &mut $connection| {
                    let changed = diesel::update(resources::table.find(row.id))
                        .set(&row)
                        .execute(&mut *conn)
                        .await
                        .map_err(error::conflict("resource"))?;
                    if changed == 0 {
                        return Err(StoreError::NotFound("resource"));
                    }
                    Ok(())
                })
                .await
            }

            async fn delete_resource(&self, id: ResourceId) -> Result<bool, StoreError> {
                self.write(async move |conn: &mut $connection| {
                    let deleted = diesel::delete(resources::table.find(DbUuid(id.0)))
                        .execute(&mut *conn)
                        .await
                        .map_err(error::unexpected)?;
                    Ok(deleted > 0)
                })
                .await
            }
        }
    };
}
