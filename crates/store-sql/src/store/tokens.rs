//! `TokenStore` (codes, grants, refresh tokens, revocations, consents,
//! sessions) on a diesel backend.

/// Implementation detail of [`sql_store!`](crate::sql_store).
#[doc(hidden)]
#[macro_export]
macro_rules! __sql_tokens {
    (store: $store:ty, connection: $connection:ty, write_transaction: $tx:path $(,)?) => {
        #[async_trait::async_trait]
        impl TokenStore for $store {
            async fn put_code(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
                let row = CodeRow::new(code);
                self.write(async move |conn: &mut $connection| {
                    diesel::insert_into(authorization_codes::table)
                        .values(&row)
                        .execute(&mut *conn)
                        .await
                        .map_err(error::parent_or_conflict(
                            "client or user",
                            "authorization code",
                        ))?;
                    Ok(())
                })
                .await
            }

            async fn take_code(&self, hash: &TokenHash) -> Result<CodeRedemption, StoreError> {
                let hash = hash_bytes(hash);
                self.write(async move |conn: &mut $connection| take(conn, hash).await)
                    .await
            }

            async fn create_grant(
                &self,
                grant: &Grant,
                refresh: Option<RefreshFamily>,
            ) -> Result<(), StoreError> {
                let grant_row = GrantRow::new(grant);
                let family = refresh
                    .as_ref()
                    .map_or_else(FamilyRow::none, FamilyRow::new);
                // A legacy family (only ever made by the migration, or a
                // test) is found by its token's hash.
                let legacy = refresh
                    .as_ref()
                    .filter(|f| f.generation == 0)
                    .map(|f| hash_bytes(&f.current));
                // The grant and its family in one row, one statement: no
                // transaction round trips around it.
                self.write(async move |conn: &mut $connection| {
                    diesel::insert_into(grants::table)
                        .values((&grant_row, &family, grants::refresh_legacy.eq(legacy)))
                        .execute(&mut *conn)
                        .await
                        .map(drop)
                        .map_err(error::parent_or_conflict("client or user", "grant"))
                })
                .await
            }

            async fn get_grant(&self, id: GrantId) -> Result<Option<Grant>, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    found(
                        grants::table
                            .find(DbUuid(id.0))
                            .select(GrantRow::as_select())
                            .get_result(&mut *conn)
                            .await,
                    )
                })
                .await
            }

            async fn find_refresh(
                &self,
                presented: &PresentedRefresh,
            ) -> Result<Option<(RefreshFamily, RefreshStanding, Grant)>, StoreError> {
                let presented = presented.clone();
                self.read(async move |conn: &mut $connection| {
                    let Some(found) = family_for(&mut *conn, &presented).await? else {
                        return Ok(None);
                    };
                    Ok(found.standing.map(|st| (found.family, st, found.grant)))
                })
                .await
            }

            async fn rotate_refresh(
                &self,
                presented: &PresentedRefresh,
                seen: Option<(RefreshFamily, RefreshStanding, Grant)>,
                next: &RefreshFamily,
                now: OffsetDateTime,
                grace: time::Duration,
            ) -> Result<Rotation, StoreError> {
                let presented = presented.clone();
                let seen = seen.map(|(family, _, grant)| (grant, family));
                let next = next.clone();
                self.write(async move |conn: &mut $connection| {
                    rotate(conn, presented, seen, next, now, grace).await
                })
                .await
            }

            async fn revoke_grant(
                &self,
                id: GrantId,
                at: OffsetDateTime,
            ) -> Result<bool, StoreError> {
                self.write(async move |conn: &mut $connection| {
                    revoke_family(&mut *conn, DbUuid(id.0), DbTime(at))
                        .await
                        .map_err(error::unexpected)
                })
                .await
            }

            async fn revoke_user_tokens(
                &self,
                user: UserId,
                at: OffsetDateTime,
            ) -> Result<u64, StoreError> {
                self.write(async move |conn: &mut $connection| {
                    revoke_user(conn, DbUuid(user.0), DbTime(at))
                        .await
                        .map_err(error::unexpected)
                })
                .await
            }

            async fn revoke_client_grants(
                &self,
                user: UserId,
                client: &ClientId,
                at: OffsetDateTime,
            ) -> Result<u64, StoreError> {
                let client = client.as_str().to_owned();
                self.write(async move |conn: &mut $connection| {
                    revoke_client(conn, DbUuid(user.0), client, DbTime(at))
                        .await
                        .map_err(error::unexpected)
                })
                .await
            }

            async fn active_grants(&self, of: &GrantsOf) -> Result<Vec<Grant>, StoreError> {
                let of = of.clone();
                self.read(async move |conn: &mut $connection| {
                    let active = grants::table.filter(grants::revoked_at.is_null());
                    let rows = match of {
                        GrantsOf::User(u) => {
                            active
                                .filter(grants::user_id.eq(DbUuid(u.0)))
                                .order((grants::created_at.desc(), grants::id.desc()))
                                .select(GrantRow::as_select())
                                .load(&mut *conn)
                                .await
                        }
                        GrantsOf::Client(c) => {
                            active
                                .filter(grants::client_id.eq(c.as_str().to_owned()))
                                .order((grants::created_at.desc(), grants::id.desc()))
                                .select(GrantRow::as_select())
                                .load(&mut *conn)
                                .await
                        }
                    }
                    .map_err(error::unexpected)?;
                    rows.into_iter().map(GrantRow::into_domain).collect()
                })
                .await
            }

            async fn record_use(&self, uses: &[Usage]) -> Result<(), StoreError> {
                let uses = uses.to_vec();
                self.write(async move |conn: &mut $connection| {
                    let c: &mut $connection = &mut *conn;
                    $tx(c, async move |c| {
                        for u in &uses {
                            let at = Some(DbTime(u.at));
                            if let Some(g) = u.grant_id {
                                diesel::update(grants::table.find(DbUuid(g.0)))
                                    .filter(
                                        grants::last_used_at
                                            .is_null()
                                            .or(grants::last_used_at.lt(at)),
                                    )
                                    .set(grants::last_used_at.eq(at))
                                    .execute(c)
                                    .await?;
                            }
                            diesel::update(clients::table.find(u.client_id.as_str()))
                                .filter(
                                    clients::last_used_at
                                        .is_null()
                                        .or(clients::last_used_at.lt(at)),
                                )
                                .set(clients::last_used_at.eq(at))
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

            async fn append_revocations(
                &self,
                revocations: &[Revocation],
            ) -> Result<(), StoreError> {
                let rows: Vec<NewRevocationRow> =
                    revocations.iter().map(NewRevocationRow::new).collect();
                if rows.is_empty() {
                    return Ok(());
                }
                self.write(async move |conn: &mut $connection| {
                    let c: &mut $connection = &mut *conn;
                    // One row per statement: SQLite cannot batch rows with
                    // absent (NULL) columns in one VALUES list.
                    $tx(c, async move |c| {
                        for row in &rows {
                            diesel::insert_into(revocations::table)
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

            fn revocation_settle(&self) -> std::time::Duration {
                <$store>::REVOCATION_SETTLE
            }

            async fn revocations_after(
                &self,
                after: i64,
                settled_before: OffsetDateTime,
                limit: u32,
            ) -> Result<Vec<Revocation>, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    let rows: Vec<RevocationRow> = revocations::table
                        .filter(revocations::seq.gt(after))
                        .filter(revocations::at.lt(DbTime(settled_before)))
                        .order(revocations::seq.asc())
                        .limit(i64::from(limit))
                        .select(RevocationRow::as_select())
                        .load(&mut *conn)
                        .await
                        .map_err(error::unexpected)?;
                    rows.into_iter().map(RevocationRow::into_domain).collect()
                })
                .await
            }

            async fn revoke_access_token(
                &self,
                jti: uuid::Uuid,
                expires_at: OffsetDateTime,
            ) -> Result<(), StoreError> {
                self.write(async move |conn: &mut $connection| {
                    diesel::insert_into(denied_access_tokens::table)
                        .values((
                            denied_access_tokens::jti.eq(DbUuid(jti)),
                            denied_access_tokens::expires_at.eq(DbTime(expires_at)),
                        ))
                        .on_conflict(denied_access_tokens::jti)
                        .do_update()
                        .set(denied_access_tokens::expires_at.eq(DbTime(expires_at)))
                        .execute(&mut *conn)
                        .await
                        .map_err(error::unexpected)?;
                    Ok(())
                })
                .await
            }

            async fn is_access_token_revoked(
                &self,
                jti: uuid::Uuid,
                grant: Option<GrantId>,
            ) -> Result<bool, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    let denied = diesel::dsl::exists(denied_access_tokens::table.find(DbUuid(jti)));
                    // One round trip: denied by jti, or its grant is revoked
                    // or gone (deleted with its client or user).
                    let revoked: bool = match grant {
                        None => diesel::select(denied).get_result(&mut *conn).await,
                        Some(grant) => {
                            let active = diesel::dsl::exists(
                                grants::table
                                    .find(DbUuid(grant.0))
                                    .filter(grants::revoked_at.is_null()),
                            );
                            diesel::select(denied.or(diesel::dsl::not(active)))
                                .get_result(&mut *conn)
                                .await
                        }
                    }
                    .map_err(error::unexpected)?;
                    Ok(revoked)
                })
                .await
            }

            async fn get_consent(
                &self,
                user: UserId,
                client: &ClientId,
            ) -> Result<Option<Consent>, StoreError> {
                let client = client.as_str().to_owned();
                self.read(async move |conn: &mut $connection| {
                    found(
                        consents::table
                            .find((DbUuid(user.0), &client))
                            .select(ConsentRow::as_select())
                            .get_result(&mut *conn)
                            .await,
                    )
                })
                .await
            }

            async fn put_consent(&self, consent: &Consent) -> Result<(), StoreError> {
                let row = ConsentRow::new(consent);
                self.write(async move |conn: &mut $connection| {
                    diesel::insert_into(consents::table)
                        .values(&row)
                        .on_conflict((consents::user_id, consents::client_id))
                        .do_update()
                        .set((
                            consents::scope.eq(excluded(consents::scope)),
                            consents::granted_at.eq(excluded(consents::granted_at)),
                        ))
                        .execute(&mut *conn)
                        .await
                        .map_err(error::parent_or_conflict("client or user", "consent"))?;
                    Ok(())
                })
                .await
            }

            async fn put_session(&self, session: &Session) -> Result<(), StoreError> {
                let row = SessionRow::new(session);
                self.write(async move |conn: &mut $connection| {
                    diesel::insert_into(sessions::table)
                        .values(&row)
                        .execute(&mut *conn)
                        .await
                        .map_err(error::parent_or_conflict("user", "session"))?;
                    Ok(())
                })
                .await
            }

            async fn get_session(
                &self,
                hash: &TokenHash,
                now: OffsetDateTime,
            ) -> Result<Option<Session>, StoreError> {
                let hash = hash_bytes(hash);
                self.read(async move |conn: &mut $connection| {
                    found(
                        sessions::table
                            .find(&hash)
                            .filter(sessions::expires_at.gt(DbTime(now)))
                            .select(SessionRow::as_select())
                            .get_result(&mut *conn)
                            .await,
                    )
                })
                .await
            }

            async fn delete_session(&self, hash: &TokenHash) -> Result<(), StoreError> {
                let hash = hash_bytes(hash);
                self.write(async move |conn: &mut $connection| {
                    diesel::delete(sessions::table.find(&hash))
                        .execute(&mut *conn)
                        .await
                        .map_err(error::unexpected)?;
                    Ok(())
                })
                .await
            }

            async fn delete_user_sessions(&self, user: UserId) -> Result<u64, StoreError> {
                self.write(async move |conn: &mut $connection| {
                    let deleted = diesel::delete(
                        sessions::table.filter(sessions::user_id.eq(DbUuid(user.0))),
                    )
                    .execute(&mut *conn)
                    .await
                    .map_err(error::unexpected)?;
                    Ok(u64::try_from(deleted).unwrap_or(0))
                })
                .await
            }

            async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
                let now = DbTime(now);
                let mut purged = 0u64;
                for kind in [
                    Expiring::Codes,
                    Expiring::RefreshFamilies,
                    Expiring::RefreshTokens,
                    Expiring::DeniedAccessTokens,
                    Expiring::Sessions,
                    Expiring::Revocations,
                ] {
                    loop {
                        // A connection per batch: requests get the writer
                        // between batches.
                        let deleted = self
                            .write(async move |conn: &mut $connection| {
                                purge_batch(conn, kind, now)
                                    .await
                                    .map_err(error::unexpected)
                            })
                            .await?;
                        purged += u64::try_from(deleted).unwrap_or(0);
                        if i64::try_from(deleted).unwrap_or(i64::MAX) < $crate::PURGE_BATCH {
                            break;
                        }
                    }
                }
                Ok(purged)
            }
        }
    };
}
