//! The transaction helpers the port impls share: writing a row that names
//! an organization and a user, revoking a family, purging a batch, creating
//! an organization with its owner, accepting an invitation.

/// Implementation detail of [`sql_store!`](crate::sql_store).
#[doc(hidden)]
#[macro_export]
macro_rules! __sql_helpers {
    (store: $store:ty, connection: $connection:ty, write_transaction: $tx:path $(,)?) => {
        /// The outcome of writing a row that names an organization and a
        /// user (a membership, an invitation): a foreign-key violation
        /// becomes `NotFound` naming the parent that is missing, for the
        /// caller's 404.
        async fn org_member_written(
            c: &mut $connection,
            written: DbResult<usize>,
            org: DbUuid,
        ) -> Result<(), StoreError> {
            match written {
                Ok(_) => Ok(()),
                Err(e) if error::is_foreign_key_violation(&e) => {
                    let orgs: i64 = organizations::table
                        .find(org)
                        .count()
                        .get_result(c)
                        .await
                        .map_err(error::unexpected)?;
                    Err(StoreError::NotFound(if orgs == 0 {
                        "organization"
                    } else {
                        "user"
                    }))
                }
                Err(e) => Err(error::unexpected(e)),
            }
        }

        /// Revokes a family and drops its refresh tokens, in one transaction.
        /// Returns whether this call revoked it (it was active before).
        async fn revoke_family(c: &mut $connection, family: DbUuid, at: DbTime) -> DbResult<bool> {
            $tx(c, async move |c| {
                let revoked = diesel::update(grants::table.find(family))
                    .filter(grants::revoked_at.is_null())
                    .set(grants::revoked_at.eq(Some(at)))
                    .execute(c)
                    .await?;
                diesel::delete(refresh_tokens::table.filter(refresh_tokens::grant_id.eq(family)))
                    .execute(c)
                    .await?;
                Ok(revoked == 1)
            })
            .await
        }

        /// Which expiring records a purge batch deletes.
        #[derive(Clone, Copy)]
        enum Expiring {
            Codes,
            RefreshFamilies,
            RefreshTokens,
            DeniedAccessTokens,
            Sessions,
            Revocations,
        }

        /// Deletes at most `PURGE_BATCH` expired records of one kind: their
        /// keys first, then the rows by key, so each statement stays short.
        async fn purge_batch(c: &mut $connection, kind: Expiring, now: DbTime) -> DbResult<usize> {
            const BATCH: i64 = $crate::PURGE_BATCH;
            match kind {
                Expiring::Codes => {
                    let doomed: Vec<Vec<u8>> = authorization_codes::table
                        .select(authorization_codes::hash)
                        .filter(authorization_codes::expires_at.le(now))
                        .limit(BATCH)
                        .load(c)
                        .await?;
                    diesel::delete(
                        authorization_codes::table.filter(authorization_codes::hash.eq_any(doomed)),
                    )
                    .execute(c)
                    .await
                }
                // The grant stays (its history, "connected apps"); its
                // expired refresh state goes.
                Expiring::RefreshFamilies => {
                    let doomed: Vec<DbUuid> = grants::table
                        .select(grants::id)
                        .filter(grants::refresh_expires_at.le(now))
                        .limit(BATCH)
                        .load(c)
                        .await?;
                    diesel::update(grants::table.filter(grants::id.eq_any(doomed)))
                        .set((
                            &FamilyRow::none(),
                            grants::refresh_legacy.eq(None::<Vec<u8>>),
                        ))
                        .execute(c)
                        .await
                }
                Expiring::RefreshTokens => {
                    let doomed: Vec<Vec<u8>> = refresh_tokens::table
                        .select(refresh_tokens::hash)
                        .filter(refresh_tokens::expires_at.le(now))
                        .limit(BATCH)
                        .load(c)
                        .await?;
                    diesel::delete(
                        refresh_tokens::table.filter(refresh_tokens::hash.eq_any(doomed)),
                    )
                    .execute(c)
                    .await
                }
                Expiring::DeniedAccessTokens => {
                    let doomed: Vec<DbUuid> = denied_access_tokens::table
                        .select(denied_access_tokens::jti)
                        .filter(denied_access_tokens::expires_at.le(now))
                        .limit(BATCH)
                        .load(c)
                        .await?;
                    diesel::delete(
                        denied_access_tokens::table
                            .filter(denied_access_tokens::jti.eq_any(doomed)),
                    )
                    .execute(c)
                    .await
                }
                Expiring::Sessions => {
                    let doomed: Vec<Vec<u8>> = sessions::table
                        .select(sessions::hash)
                        .filter(sessions::expires_at.le(now))
                        .limit(BATCH)
                        .load(c)
                        .await?;
                    diesel::delete(sessions::table.filter(sessions::hash.eq_any(doomed)))
                        .execute(c)
                        .await
                }
                Expiring::Revocations => {
                    let doomed: Vec<i64> = revocations::table
                        .select(revocations::seq)
                        .filter(revocations::expires_at.le(now))
                        .limit(BATCH)
                        .load(c)
                        .await?;
                    diesel::delete(revocations::table.filter(revocations::seq.eq_any(doomed)))
                        .execute(c)
                        .await
                }
            }
        }

        /// An organization and its owner, in one transaction: an
        /// organization never exists without an owner.
        async fn insert_with_owner(
            c: &mut $connection,
            org: OrgRow,
            owner: MembershipRow,
        ) -> DbResult<()> {
            $tx(c, async move |c| {
                diesel::insert_into(organizations::table)
                    .values(&org)
                    .execute(c)
                    .await?;
                diesel::insert_into(memberships::table)
                    .values(&owner)
                    .execute(c)
                    .await?;
                DbResult::Ok(())
            })
            .await
        }

        /// Accepts an invitation in one transaction: deleting it is the
        /// lock (one caller gets the row), then the membership is added
        /// unless it exists, and read back.
        async fn accept_in_transaction(
            c: &mut $connection,
            key: (DbUuid, DbUuid),
            at: DbTime,
        ) -> DbResult<Option<MembershipRow>> {
            $tx(c, async move |c| {
                let taken: Option<InvitationRow> = diesel::delete(invitations::table.find(key))
                    .returning(InvitationRow::as_returning())
                    .get_result(c)
                    .await
                    .optional()?;
                let Some(taken) = taken else {
                    return Ok(None);
                };
                diesel::insert_into(memberships::table)
                    .values(MembershipRow {
                        org_id: taken.org_id,
                        user_id: taken.user_id,
                        role: taken.role,
                        created_at: at,
                    })
                    .on_conflict((memberships::org_id, memberships::user_id))
                    .do_nothing()
                    .execute(c)
                    .await?;
                memberships::table
                    .find(key)
                    .select(MembershipRow::as_select())
                    .get_result(c)
                    .await
                    .optional()
            })
            .await
        }
    };
}
