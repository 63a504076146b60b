//! `KeyStore` (signing keys and the master key) on a diesel backend.

/// Implementation detail of [`sql_store!`](crate::sql_store).
#[doc(hidden)]
#[macro_export]
macro_rules! __sql_keys {
    (store: $store:ty, connection: $connection:ty, write_transaction: $tx:path $(,)?) => {
        #[async_trait::async_trait]
        impl KeyStore for $store {
            async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    listed(
                        signing_keys::table
                            .order((signing_keys::created_at.desc(), signing_keys::kid.desc()))
                            .select(KeyRow::as_select())
                            .load(&mut *conn)
                            .await,
                    )
                })
                .await
            }

            async fn insert_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
                let row = KeyRow::new(key);
                self.write(async move |conn: &mut $connection| {
                    diesel::insert_into(signing_keys::table)
                        .values(&row)
                        .execute(&mut *conn)
                        .await
                        .map_err(error::conflict("signing key"))?;
                    Ok(())
                })
                .await
            }

            async fn retire_signing_key(
                &self,
                kid: &str,
                at: OffsetDateTime,
            ) -> Result<(), StoreError> {
                let kid = kid.to_owned();
                self.write(async move |conn: &mut $connection| {
                    // The first retirement stands: publication is counted
                    // from it, and retiring twice must not extend it.
                    let retired = diesel::update(signing_keys::table.find(&kid))
                        .filter(signing_keys::retired_at.is_null())
                        .set(signing_keys::retired_at.eq(Some(DbTime(at))))
                        .execute(&mut *conn)
                        .await
                        .map_err(error::unexpected)?;
                    if retired == 0 {
                        let known: i64 = signing_keys::table
                            .find(&kid)
                            .count()
                            .get_result(&mut *conn)
                            .await
                            .map_err(error::unexpected)?;
                        if known == 0 {
                            return Err(StoreError::NotFound("signing key"));
                        }
                    }
                    Ok(())
                })
                .await
            }

            async fn master_key_or_init(&self, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
                let candidate = candidate.to_vec();
                self.write(async move |conn: &mut $connection| {
                    // Whoever inserts first wins; everyone then reads the
                    // winner. ON CONFLICT waits for a concurrent insert to
                    // commit, so the read never misses it.
                    diesel::insert_into(master_key::table)
                        .values((master_key::id.eq(1i16), master_key::key.eq(&candidate)))
                        .on_conflict_do_nothing()
                        .execute(&mut *conn)
                        .await
                        .map_err(error::unexpected)?;
                    master_key::table
                        .find(1i16)
                        .select(master_key::key)
                        .get_result(&mut *conn)
                        .await
                        .map_err(error::unexpected)
                })
                .await
            }

            async fn ping(&self) -> Result<(), StoreError> {
                self.read(async move |conn: &mut $connection| {
                    diesel::sql_query("SELECT 1")
                        .execute(&mut *conn)
                        .await
                        .map_err(error::unexpected)?;
                    Ok(())
                })
                .await
            }
        }
    };
}
