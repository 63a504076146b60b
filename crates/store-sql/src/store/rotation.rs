//! The refresh-token and code transactions of `TokenStore`: redeeming a
//! code, rotating a refresh family (with its grace replay) in one
//! conditional write, revoking what a user's old credentials opened.

/// Implementation detail of [`sql_store!`](crate::sql_store).
#[doc(hidden)]
#[macro_export]
macro_rules! __sql_rotation {
    (store: $store:ty, connection: $connection:ty, write_transaction: $tx:path $(,)?) => {
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

        /// A refresh family as read for a presented token.
        struct FoundFamily {
            grant: Grant,
            family: RefreshFamily,
            /// Where the token stands; `None` if it is not the family's.
            standing: Option<RefreshStanding>,
            /// The family as stored, for the conditional write.
            generation: i64,
            current: Vec<u8>,
        }

        /// The family a presented token names (by its verified claim, by its
        /// hash as the current token, or as a rotated legacy token), with
        /// the token's standing in it.
        async fn family_for(
            c: &mut $connection,
            presented: &PresentedRefresh,
        ) -> Result<Option<FoundFamily>, StoreError> {
            let hash = hash_bytes(&presented.hash);
            let mut spent_legacy = false;
            let id: Option<DbUuid> = match presented.claim {
                Some(claim) => Some(DbUuid(claim.grant.0)),
                None => {
                    // Only a legacy token names no family; its hash has a
                    // column (and an index) of its own.
                    let current: Option<DbUuid> = grants::table
                        .filter(grants::refresh_legacy.eq(&hash))
                        .select(grants::id)
                        .get_result(&mut *c)
                        .await
                        .optional()
                        .map_err(error::unexpected)?;
                    match current {
                        Some(id) => Some(id),
                        None => {
                            let legacy: Option<DbUuid> = refresh_tokens::table
                                .find(&hash)
                                .select(refresh_tokens::grant_id)
                                .get_result(&mut *c)
                                .await
                                .optional()
                                .map_err(error::unexpected)?;
                            spent_legacy = legacy.is_some();
                            legacy
                        }
                    }
                }
            };
            let Some(id) = id else {
                return Ok(None);
            };
            let row: Option<(GrantRow, FamilyRow)> = grants::table
                .find(id)
                .select((GrantRow::as_select(), FamilyRow::as_select()))
                .get_result(&mut *c)
                .await
                .optional()
                .map_err(error::unexpected)?;
            let Some((grant, family)) = row else {
                return Ok(None);
            };
            let generation = family.refresh_generation.unwrap_or_default();
            let current = family.refresh_hash.clone().unwrap_or_default();
            let grant = grant.into_domain()?;
            let Some(family) = family.into_domain(grant.id)? else {
                return Ok(None);
            };
            let standing = family.standing_of(presented, spent_legacy);
            Ok(Some(FoundFamily {
                grant,
                family,
                standing,
                generation,
                current,
            }))
        }

        /// `rotate_refresh`: decide against the family as the caller saw it
        /// (or as read here) and write it back with one conditional UPDATE
        /// (that family is the condition, so of racing rotations exactly one
        /// writes). A loser reads again and decides again: by then its token
        /// is the just-rotated one. Reuse revokes the family in a
        /// transaction of its own, committed before answering, so it stands
        /// although the request fails.
        async fn rotate(
            c: &mut $connection,
            presented: PresentedRefresh,
            seen: Option<(Grant, RefreshFamily)>,
            next: RefreshFamily,
            now: OffsetDateTime,
            grace: time::Duration,
        ) -> Result<Rotation, StoreError> {
            // The caller's read counts as the first: the common rotation is
            // then the UPDATE alone.
            let mut seen = seen.map(|(grant, family)| {
                let standing = family.standing_of(&presented, false);
                FoundFamily {
                    generation: i64::try_from(family.generation).unwrap_or(i64::MAX),
                    current: hash_bytes(&family.current),
                    grant,
                    family,
                    standing,
                }
            });
            for _ in 0..8 {
                // Only a rotation is decided against what the caller saw
                // (the write's condition checks it still holds); anything
                // else is decided against the family as it is now.
                let seen_rotates = seen.take().filter(|found| {
                    found.grant.is_active()
                        && matches!(
                            found
                                .family
                                .step(found.standing, &presented, &next, now, grace),
                            RefreshStep::Rotate(_)
                        )
                });
                let found = match seen_rotates {
                    Some(found) => found,
                    None => match family_for(&mut *c, &presented).await? {
                        Some(found) => found,
                        None => return Ok(Rotation::Invalid),
                    },
                };
                let before = found.family.clone();
                if !found.grant.is_active() {
                    return Ok(Rotation::Invalid);
                }
                let after = match before.step(found.standing, &presented, &next, now, grace) {
                    RefreshStep::Rotate(after) => after,
                    RefreshStep::Invalid => return Ok(Rotation::Invalid),
                    RefreshStep::Stale => return Ok(Rotation::Stale),
                    RefreshStep::Reuse => {
                        let family = DbUuid(before.grant_id.0);
                        return Ok(
                            if revoke_family(c, family, DbTime(now))
                                .await
                                .map_err(error::unexpected)?
                            {
                                Rotation::Reused(before.grant_id)
                            } else {
                                Rotation::Invalid
                            },
                        );
                    }
                };
                let legacy = (before.generation == 0 && !after.grace_used).then(|| RefreshRow {
                    hash: hash_bytes(&presented.hash),
                    grant_id: DbUuid(before.grant_id.0),
                    issued_at: DbTime(before.issued_at),
                    expires_at: DbTime(before.expires_at),
                    rotated_at: Some(DbTime(now)),
                    grace_used: false,
                    replaced_by: Some(hash_bytes(&after.current)),
                });
                let row = FamilyRow::new(&after);
                let id = DbUuid(before.grant_id.0);
                let (generation, current) = (found.generation, found.current);
                let written = match legacy {
                    // The common case is one statement, with no transaction
                    // round trips around it, prepared once per connection
                    // ([`crate::prepared`]), writing no indexed column
                    // (PostgreSQL keeps it a heap-only update).
                    None if before.generation > 0 => {
                        $crate::prepared::RotateFamily {
                            id: &id,
                            generation: &generation,
                            current: &current,
                            next: &row,
                        }
                        .execute(&mut *c)
                        .await
                        .map_err(error::unexpected)?
                            == 1
                    }
                    legacy => $tx(&mut *c, async move |c| {
                        let cas = grants::table
                            .find(id)
                            .filter(grants::refresh_generation.eq(generation))
                            .filter(grants::refresh_hash.eq(current))
                            .filter(grants::revoked_at.is_null());
                        // The family leaves the legacy form: nothing finds
                        // it by a bare hash any more.
                        let n = diesel::update(cas)
                            .set((&row, grants::refresh_legacy.eq(None::<Vec<u8>>)))
                            .execute(c)
                            .await?;
                        if n == 1
                            && let Some(legacy) = legacy
                        {
                            // A legacy token names no family: this record is
                            // how its reuse is recognised until it would have
                            // expired.
                            diesel::insert_into(refresh_tokens::table)
                                .values(&legacy)
                                .execute(c)
                                .await?;
                        }
                        DbResult::Ok(n == 1)
                    })
                    .await
                    .map_err(error::unexpected)?,
                };
                if written {
                    return Ok(Rotation::Rotated {
                        grant: found.grant,
                        previous: before,
                    });
                }
            }
            Ok(Rotation::Stale)
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
