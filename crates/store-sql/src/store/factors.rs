//! `FactorRepo` (authenticator apps, passkeys, recovery codes) on a diesel
//! backend. The single-use operations are one conditional `UPDATE` (or
//! `DELETE … RETURNING`) each.

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

            async fn add_passkey(
                &self,
                passkey: &gatehouse_core::model::PasskeyCredential,
            ) -> Result<(), StoreError> {
                let row = PasskeyRow::new(passkey);
                self.write(async move |conn: &mut $connection| {
                    diesel::insert_into(passkeys::table)
                        .values(&row)
                        .execute(&mut *conn)
                        .await
                        .map_err(error::parent_or_conflict("user", "passkey"))?;
                    Ok(())
                })
                .await
            }

            async fn passkeys(
                &self,
                user: UserId,
            ) -> Result<Vec<gatehouse_core::model::PasskeyCredential>, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    let rows: Vec<PasskeyRow> = passkeys::table
                        .filter(passkeys::user_id.eq(DbUuid(user.0)))
                        .order((passkeys::created_at.asc(), passkeys::id.asc()))
                        .select(PasskeyRow::as_select())
                        .load(&mut *conn)
                        .await
                        .map_err(error::unexpected)?;
                    Ok(rows.into_iter().map(PasskeyRow::into_domain).collect())
                })
                .await
            }

            async fn passkey_by_credential(
                &self,
                credential_id: &[u8],
            ) -> Result<Option<gatehouse_core::model::PasskeyCredential>, StoreError> {
                let credential_id = credential_id.to_vec();
                self.read(async move |conn: &mut $connection| {
                    let row: Option<PasskeyRow> = passkeys::table
                        .filter(passkeys::credential_id.eq(&credential_id))
                        .select(PasskeyRow::as_select())
                        .get_result(&mut *conn)
                        .await
                        .optional()
                        .map_err(error::unexpected)?;
                    Ok(row.map(PasskeyRow::into_domain))
                })
                .await
            }

            async fn record_passkey_use(
                &self,
                id: gatehouse_core::model::PasskeyId,
                credential: &str,
                at: OffsetDateTime,
            ) -> Result<bool, StoreError> {
                let credential = credential.to_owned();
                self.write(async move |conn: &mut $connection| {
                    let n = diesel::update(passkeys::table.find(DbUuid(id.0)))
                        .set((
                            passkeys::credential.eq(&credential),
                            passkeys::last_used_at.eq(Some(DbTime(at))),
                        ))
                        .execute(&mut *conn)
                        .await
                        .map_err(error::unexpected)?;
                    Ok(n == 1)
                })
                .await
            }

            async fn delete_passkey(
                &self,
                user: UserId,
                id: gatehouse_core::model::PasskeyId,
            ) -> Result<bool, StoreError> {
                self.write(async move |conn: &mut $connection| {
                    let n = diesel::delete(
                        passkeys::table
                            .find(DbUuid(id.0))
                            .filter(passkeys::user_id.eq(DbUuid(user.0))),
                    )
                    .execute(&mut *conn)
                    .await
                    .map_err(error::unexpected)?;
                    Ok(n == 1)
                })
                .await
            }

            async fn put_passkey_challenge(
                &self,
                challenge: &gatehouse_core::model::PasskeyChallenge,
                now: OffsetDateTime,
            ) -> Result<(), StoreError> {
                let row = PasskeyChallengeRow::new(challenge);
                self.write(async move |conn: &mut $connection| {
                    diesel::delete(
                        passkey_challenges::table
                            .filter(passkey_challenges::expires_at.le(DbTime(now))),
                    )
                    .execute(&mut *conn)
                    .await
                    .map_err(error::unexpected)?;
                    diesel::insert_into(passkey_challenges::table)
                        .values(&row)
                        .execute(&mut *conn)
                        .await
                        .map_err(error::parent_or_conflict("user", "passkey challenge"))?;
                    Ok(())
                })
                .await
            }

            async fn take_passkey_challenge(
                &self,
                id: uuid::Uuid,
                now: OffsetDateTime,
            ) -> Result<Option<gatehouse_core::model::PasskeyChallenge>, StoreError> {
                self.write(async move |conn: &mut $connection| {
                    let row: Option<PasskeyChallengeRow> =
                        diesel::delete(passkey_challenges::table.find(DbUuid(id)))
                            .returning(PasskeyChallengeRow::as_returning())
                            .get_result(&mut *conn)
                            .await
                            .optional()
                            .map_err(error::unexpected)?;
                    Ok(row
                        .filter(|r| r.expires_at.0 > now)
                        .and_then(PasskeyChallengeRow::into_domain))
                })
                .await
            }
        }
    };
}
