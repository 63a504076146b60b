//! `FactorRepo` (authenticator apps, recovery codes) on a diesel backend.
//! The single-use operations are one conditional `UPDATE` each.

/// Implementation detail of [`sql_store!`](crate::sql_store).
#[doc(hidden)]
#[macro_export]
macro_rules! __sql_factors {
    (store: $store:ty, connection: $connection:ty, write_transaction: $tx:path $(,)?) => {
        #[async_trait::async_trait]
        impl gatehouse_core::ports::FactorRepo for $store {
            async fn put_totp(
                &self,
                factor: &gatehouse_core::model::TotpFactor,
            ) -> Result<(), StoreError> {
                let row = TotpRow::new(factor);
                self.write(async move |conn: &mut $connection| {
                    diesel::insert_into(totp_factors::table)
                        .values(&row)
                        .on_conflict(totp_factors::user_id)
                        .do_update()
                        .set(&row)
                        .execute(&mut *conn)
                        .await
                        .map_err(error::parent_or_conflict("user", "second factor"))?;
                    Ok(())
                })
                .await
            }

            async fn get_totp(
                &self,
                user: UserId,
            ) -> Result<Option<gatehouse_core::model::TotpFactor>, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    let row: Option<TotpRow> = totp_factors::table
                        .find(DbUuid(user.0))
                        .select(TotpRow::as_select())
                        .get_result(&mut *conn)
                        .await
                        .optional()
                        .map_err(error::unexpected)?;
                    Ok(row.map(TotpRow::into_domain))
                })
                .await
            }

            async fn accept_totp_step(&self, user: UserId, step: i64) -> Result<bool, StoreError> {
                self.write(async move |conn: &mut $connection| {
                    let n = diesel::update(
                        totp_factors::table
                            .find(DbUuid(user.0))
                            .filter(totp_factors::last_step.lt(step)),
                    )
                    .set((
                        totp_factors::last_step.eq(step),
                        totp_factors::confirmed.eq(true),
                    ))
                    .execute(&mut *conn)
                    .await
                    .map_err(error::unexpected)?;
                    Ok(n == 1)
                })
                .await
            }

            async fn delete_totp(&self, user: UserId) -> Result<bool, StoreError> {
                self.write(async move |conn: &mut $connection| {
                    diesel::delete(
                        recovery_codes::table.filter(recovery_codes::user_id.eq(DbUuid(user.0))),
                    )
                    .execute(&mut *conn)
                    .await
                    .map_err(error::unexpected)?;
                    let n = diesel::delete(totp_factors::table.find(DbUuid(user.0)))
                        .execute(&mut *conn)
                        .await
                        .map_err(error::unexpected)?;
                    Ok(n == 1)
                })
                .await
            }

            async fn replace_recovery_codes(
                &self,
                user: UserId,
                hashes: &[TokenHash],
                at: OffsetDateTime,
            ) -> Result<(), StoreError> {
                let rows: Vec<RecoveryCodeRow> = hashes
                    .iter()
                    .map(|h| RecoveryCodeRow {
                        user_id: DbUuid(user.0),
                        hash: hash_bytes(h),
                        used_at: None,
                        created_at: DbTime(at),
                    })
                    .collect();
                self.write(async move |conn: &mut $connection| {
                    $tx(conn, async move |c| {
                        diesel::delete(
                            recovery_codes::table
                                .filter(recovery_codes::user_id.eq(DbUuid(user.0))),
                        )
                        .execute(c)
                        .await?;
                        // One statement per code: SQLite has no DEFAULT
                        // in a multi-row insert.
                        for row in &rows {
                            diesel::insert_into(recovery_codes::table)
                                .values(row)
                                .execute(c)
                                .await?;
                        }
                        DbResult::Ok(())
                    })
                    .await
                    .map_err(error::parent_or_conflict("user", "recovery code"))
                })
                .await
            }

            async fn use_recovery_code(
                &self,
                user: UserId,
                hash: &TokenHash,
                at: OffsetDateTime,
            ) -> Result<bool, StoreError> {
                let hash = hash_bytes(hash);
                self.write(async move |conn: &mut $connection| {
                    let n = diesel::update(
                        recovery_codes::table
                            .find((DbUuid(user.0), &hash))
                            .filter(recovery_codes::used_at.is_null()),
                    )
                    .set(recovery_codes::used_at.eq(DbTime(at)))
                    .execute(&mut *conn)
                    .await
                    .map_err(error::unexpected)?;
                    Ok(n == 1)
                })
                .await
            }

            async fn recovery_codes_left(&self, user: UserId) -> Result<u32, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    let n: i64 = recovery_codes::table
                        .filter(recovery_codes::user_id.eq(DbUuid(user.0)))
                        .filter(recovery_codes::used_at.is_null())
                        .count()
                        .get_result(&mut *conn)
                        .await
                        .map_err(error::unexpected)?;
                    Ok(u32::try_from(n).unwrap_or(0))
                })
                .await
            }
        }
    };
}
