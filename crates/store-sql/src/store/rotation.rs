//! The refresh-token and code transactions of `TokenStore`: redeeming a
//! code, rotating a refresh token (with its grace replay), revoking what a
//! user's old credentials opened.

/// Implementation detail of [`sql_store!`](crate::sql_store).
#[doc(hidden)]
#[macro_export]
macro_rules! __sql_rotation {
    (store: $store:ty, connection: $connection:ty, write_transaction: $tx:path $(,)?) => {
        /// What the rotation transaction decided.
        // Built once per rotation and matched at once; boxing the rows
        // would add an allocation for nothing.
        #[allow(clippy::large_enum_variant)]
        enum Step {
            /// Rotated (or granted its grace replay); the successor is stored.
            Rotated(GrantRow, RefreshRow),
            /// Spent now, but its family is revoked or gone.
            DeadFamily,
        }

        /// The first rotation of `presented`, or its one grace replay, with
        /// the successor stored in the same transaction. `None` if the token
        /// is neither current nor eligible for a grace replay.
        async fn rotate_in_transaction(
            c: &mut $connection,
            presented: Vec<u8>,
            next: (Vec<u8>, DbTime, DbTime),
            now: DbTime,
            grace_cutoff: Option<DbTime>,
        ) -> DbResult<Option<Step>> {
            $tx(c, async move |c| {
                // The conditional update is the lock: of concurrent callers
                // exactly one sees the row with `rotated_at` still null.
                let fresh: Option<RefreshRow> =
                    diesel::update(refresh_tokens::table.find(&presented))
                        .filter(refresh_tokens::rotated_at.is_null())
                        .filter(refresh_tokens::expires_at.gt(now))
                        .set((
                            refresh_tokens::rotated_at.eq(Some(now)),
                            refresh_tokens::replaced_by.eq(Some(&next.0)),
                        ))
                        .returning(RefreshRow::as_returning())
                        .get_result(c)
                        .await
                        .optional()?;
                let previous = match (fresh, grace_cutoff) {
                    // Reported as it was before this rotation.
                    (Some(row), _) => Some(RefreshRow {
                        rotated_at: None,
                        replaced_by: None,
                        ..row
                    }),
                    // Rotated less than `grace` ago (rotated_at > now − grace)
                    // and its one replay unused: spend the replay, but only
                    // if its successor is still current, which is retired
                    // in the same step so the family keeps one live chain.
                    (None, Some(cutoff)) => {
                        let replay: Option<RefreshRow> =
                            diesel::update(refresh_tokens::table.find(&presented))
                                .filter(refresh_tokens::rotated_at.gt(cutoff))
                                .filter(refresh_tokens::grace_used.eq(false))
                                .filter(refresh_tokens::expires_at.gt(now))
                                .filter(refresh_tokens::replaced_by.is_not_null())
                                .set(refresh_tokens::grace_used.eq(true))
                                .returning(RefreshRow::as_returning())
                                .get_result(c)
                                .await
                                .optional()?;
                        match replay {
                            Some(row) => {
                                let cut = diesel::update(
                                    refresh_tokens::table
                                        .find(row.replaced_by.clone().unwrap_or_default()),
                                )
                                .filter(refresh_tokens::rotated_at.is_null())
                                .set((
                                    refresh_tokens::rotated_at.eq(Some(now)),
                                    refresh_tokens::grace_used.eq(true),
                                    refresh_tokens::replaced_by.eq(Some(&next.0)),
                                ))
                                .execute(c)
                                .await?;
                                // Not the just-rotated token: reuse.
                                (cut == 1).then_some(row)
                            }
                            None => None,
                        }
                    }
                    (None, None) => None,
                };
                let Some(previous) = previous else {
                    return Ok(None);
                };
                let family: Option<GrantRow> = grants::table
                    .find(previous.grant_id)
                    .select(GrantRow::as_select())
                    .get_result(c)
                    .await
                    .optional()?;
                match family {
                    Some(grant) if grant.revoked_at.is_none() => {
                        let (hash, issued_at, expires_at) = next;
                        diesel::insert_into(refresh_tokens::table)
                            .values(RefreshRow {
                                hash,
                                grant_id: previous.grant_id,
                                issued_at,
                                expires_at,
                                rotated_at: None,
                                grace_used: false,
                                replaced_by: None,
                            })
                            .execute(c)
                            .await?;
                        Ok(Some(Step::Rotated(grant, previous)))
                    }
                    _ => Ok(Some(Step::DeadFamily)),
                }
            })
            .await
        }

        /// Redeems a code: one statement flips `spent`, so of concurrent
        /// callers exactly one sees the code; the rest learn the grant its
        /// first redemption created, or that there is no such code.
        async fn take(c: &mut $connection, hash: Vec<u8>) -> Result<CodeRedemption, StoreError> {
            let taken: Option<CodeRow> = diesel::update(authorization_codes::table.find(&hash))
                .filter(authorization_codes::spent.eq(false))
                .set(authorization_codes::spent.eq(true))
                .returning(CodeRow::as_returning())
                .get_result(&mut *c)
                .await
                .optional()
                .map_err(error::unexpected)?;
            if let Some(row) = taken {
                return Ok(CodeRedemption::Redeemed(Box::new(row.into_domain()?)));
            }
            let spent: Option<DbUuid> = authorization_codes::table
                .find(&hash)
                .select(authorization_codes::grant_id)
                .get_result(&mut *c)
                .await
                .optional()
                .map_err(error::unexpected)?;
            Ok(match spent {
                Some(grant) => CodeRedemption::Replayed(GrantId(grant.0)),
                None => CodeRedemption::Unknown,
            })
        }

        /// `rotate_refresh`: the rotation (or grace replay) in one
        /// transaction; failing that, reuse of a rotated token revokes its
        /// family in a transaction of its own, committed before answering,
        /// so it stands although the request fails.
        async fn rotate(
            c: &mut $connection,
            presented: Vec<u8>,
            next: (Vec<u8>, DbTime, DbTime),
            now: DbTime,
            grace_cutoff: Option<DbTime>,
        ) -> Result<Rotation, StoreError> {
            let step = rotate_in_transaction(c, presented.clone(), next, now, grace_cutoff)
                .await
                .map_err(error::unexpected)?;
            match step {
                Some(Step::Rotated(grant, previous)) => {
                    return Ok(Rotation::Rotated {
                        grant: grant.into_domain()?,
                        previous: previous.into_domain()?,
                    });
                }
                Some(Step::DeadFamily) => return Ok(Rotation::Invalid),
                None => {}
            }
            // Not current and no grace replay left: unknown, expired, or
            // reuse of a rotated token.
            let found: Option<(DbUuid, DbTime, Option<DbTime>)> = refresh_tokens::table
                .find(&presented)
                .select((
                    refresh_tokens::grant_id,
                    refresh_tokens::expires_at,
                    refresh_tokens::rotated_at,
                ))
                .get_result(&mut *c)
                .await
                .optional()
                .map_err(error::unexpected)?;
            match found {
                // Only the call that revoked reports reuse; later ones meet
                // a revoked family.
                Some((family, expires_at, Some(_))) if expires_at.0 > now.0 => {
                    if revoke_family(c, family, now)
                        .await
                        .map_err(error::unexpected)?
                    {
                        Ok(Rotation::Reused(GrantId(family.0)))
                    } else {
                        Ok(Rotation::Invalid)
                    }
                }
                _ => Ok(Rotation::Invalid),
            }
        }

        /// Revokes every active grant `user` gave `client`, with their
        /// refresh tokens, in one transaction; how many were active.
        async fn revoke_client(
            c: &mut $connection,
            user: DbUuid,
            client: String,
            at: DbTime,
        ) -> DbResult<u64> {
            $tx(c, async move |c| {
                let revoked = diesel::update(grants::table)
                    .filter(grants::user_id.eq(user))
                    .filter(grants::client_id.eq(&client))
                    .filter(grants::revoked_at.is_null())
                    .set(grants::revoked_at.eq(Some(at)))
                    .execute(c)
                    .await?;
                let families = grants::table
                    .filter(grants::user_id.eq(user))
                    .filter(grants::client_id.eq(&client))
                    .select(grants::id);
                diesel::delete(
                    refresh_tokens::table.filter(refresh_tokens::grant_id.eq_any(families)),
                )
                .execute(c)
                .await?;
                diesel::delete(consents::table.find((user, &client)))
                    .execute(c)
                    .await?;
                Ok::<_, diesel::result::Error>(u64::try_from(revoked).unwrap_or(0))
            })
            .await
        }

        /// Revokes every active grant of `user` with its refresh tokens and
        /// deletes their sessions, in one transaction; how many grants were
        /// active.
        async fn revoke_user(c: &mut $connection, user: DbUuid, at: DbTime) -> DbResult<u64> {
            $tx(c, async move |c| {
                let revoked = diesel::update(grants::table)
                    .filter(grants::user_id.eq(user))
                    .filter(grants::revoked_at.is_null())
                    .set(grants::revoked_at.eq(Some(at)))
                    .execute(c)
                    .await?;
                let families = grants::table
                    .filter(grants::user_id.eq(user))
                    .select(grants::id);
                diesel::delete(
                    refresh_tokens::table.filter(refresh_tokens::grant_id.eq_any(families)),
                )
                .execute(c)
                .await?;
                diesel::delete(sessions::table.filter(sessions::user_id.eq(user)))
                    .execute(c)
                    .await?;
                Ok::<_, diesel::result::Error>(u64::try_from(revoked).unwrap_or(0))
            })
            .await
        }
    };
}
