//! [`sql_store!`]: every storage port, written once for every diesel
//! backend.

/// Implements every Gatehouse storage port for `$store` on a diesel backend.
///
/// Only what needs the concrete connection type is here: the port impls and
/// their transaction helpers. The schema ([`crate::schema`]), the rows and
/// their conversions ([`crate::rows`]) and the value codecs
/// ([`crate::codec`]) are plain code shared by both backends.
///
/// ```ignore
/// gatehouse_store_sql::sql_store! {
///     store: crate::PostgresStore,
///     connection: diesel_async::AsyncPgConnection,
///     write_transaction: diesel_async::AsyncConnection::transaction,
/// }
/// ```
///
/// - `store` must have two methods, `read(op)` and `write(op)`, that lend
///   a connection to an operation `async move |conn: &mut Conn| …` and run
///   it to completion whether or not the caller keeps waiting (PostgreSQL
///   spawns it as a task with a pooled connection, [`detached`](crate::detached);
///   SQLite runs writes on its writer thread with the one writing
///   connection, and reads in place, since a read in WAL mode never waits
///   for a lock). The connection is lent, not handed out: an operation
///   cannot keep it, and cannot reach the writer's outside a write.
/// - `write_transaction` names the function `(connection, async closure)`
///   that runs the closure in a write transaction:
///   `AsyncConnection::transaction` on PostgreSQL, a savepoint of the
///   writer's open `BEGIN IMMEDIATE` batch on SQLite (a deferred SQLite
///   transaction that reads first can fail with "database is locked" when it
///   then writes).
///
/// The invoking crate needs `diesel`, `diesel-async`, `async-trait`,
/// `gatehouse-core`, `time` and `uuid` as dependencies.
///
/// # Lookups
///
/// Every lookup is by a primary or unique key and uses `get_result`, never
/// `first`: `first` adds `LIMIT ?`, and SQLite's planner treats a bound
/// LIMIT as a value it may optimise for, so it re-prepares the statement on
/// every execution (a quarter of the writer's CPU in a refresh-token
/// rotation, found with perf).
///
/// # How the atomic operations work
///
/// Each is a single conditional statement, or a short transaction whose
/// first statement is that conditional write, so the database's row lock
/// (PostgreSQL) or write lock (SQLite) picks exactly one winner even across
/// processes:
///
/// - `take_code`: `UPDATE … SET spent = true WHERE hash = ? AND NOT spent
///   RETURNING …`; no row means a replay (or an unknown code).
/// - `rotate_refresh`: `UPDATE … SET rotated_at = now WHERE hash = ? AND
///   rotated_at IS NULL AND expires_at > now RETURNING …`, or in the grace
///   window `UPDATE … SET grace_used = true WHERE … AND NOT grace_used`, then
///   the successor is inserted in the same transaction. A loser of the race
///   waits on the winner's row lock, re-reads the row and finds it rotated:
///   reuse. Reuse revokes the family in its own transaction, committed
///   before the port returns, so the revocation stands although the request
///   fails.
/// - `master_key_or_init`: `INSERT … ON CONFLICT DO NOTHING`, then `SELECT`.
#[macro_export]
macro_rules! sql_store {
    (
        store: $store:ty,
        connection: $connection:ty,
        write_transaction: $tx:path,
    ) => {
        use diesel::prelude::{
            AsChangeset, BoolExpressionMethods, ExpressionMethods, Insertable, OptionalExtension,
            QueryDsl, Queryable, Selectable, SelectableHelper,
        };
        use diesel::upsert::excluded;
        #[allow(unused_imports)]
        use diesel_async::AsyncConnection as _;
        use diesel_async::RunQueryDsl;
        use gatehouse_core::model::{
            ApplicationType, AuthorizationCode, Client, ClientId, ClientOrigin, Consent, Email,
            Grant, GrantId, GrantType, Invitation, Membership, OrgId, OrgRole, Organization,
            PasswordHash, RefreshToken, Resource, ResourceId, Role, Session, StoredKey,
            TokenEndpointAuthMethod, User, UserId,
        };
        use gatehouse_core::pkce::CodeChallenge;
        use gatehouse_core::ports::{
            ClientRepo, CodeRedemption, KeyStore, OrgRepo, ResourceRepo, Rotation, StoreError,
            TokenStore, UserRepo,
        };
        use gatehouse_core::redirect::RedirectUri;
        use gatehouse_core::scope::ScopeSet;
        use gatehouse_core::secret::TokenHash;
        use time::OffsetDateTime;
        use $crate::codec::{DbJson, DbList, DbTime, DbUuid};
        use $crate::error;

        use $crate::rows::*;
        use $crate::schema::{
            authorization_codes, clients, consents, denied_access_tokens, grants, invitations,
            master_key, memberships, organizations, refresh_tokens, resources, sessions,
            signing_keys, users,
        };

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

        /// What the rotation transaction decided.
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

        /// Which expiring records a purge batch deletes.
        #[derive(Clone, Copy)]
        enum Expiring {
            Codes,
            RefreshTokens,
            DeniedAccessTokens,
            Sessions,
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
            }
        }

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
                    clients::table
                        .find(&id)
                        .select(ClientRow::as_select())
                        .get_result(&mut *conn)
                        .await
                        .optional()
                        .map_err(error::unexpected)?
                        .map(ClientRow::into_domain)
                        .transpose()
                })
                .await
            }

            async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    clients::table
                        .order((clients::created_at.asc(), clients::id.asc()))
                        .select(ClientRow::as_select())
                        .load(&mut *conn)
                        .await
                        .map_err(error::unexpected)?
                        .into_iter()
                        .map(ClientRow::into_domain)
                        .collect()
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
        }

        #[async_trait::async_trait]
        impl UserRepo for $store {
            async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
                let row = UserRow::new(user);
                self.write(async move |conn: &mut $connection| {
                    diesel::insert_into(users::table)
                        .values(&row)
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| {
                            if error::is_unique_violation(&e) {
                                if error::violation_mentions(&e, "email") {
                                    StoreError::Conflict("email")
                                } else {
                                    StoreError::Conflict("user")
                                }
                            } else {
                                error::unexpected(e)
                            }
                        })?;
                    Ok(())
                })
                .await
            }

            async fn get_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    users::table
                        .find(DbUuid(id.0))
                        .select(UserRow::as_select())
                        .get_result(&mut *conn)
                        .await
                        .optional()
                        .map_err(error::unexpected)?
                        .map(UserRow::into_domain)
                        .transpose()
                })
                .await
            }

            async fn get_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
                let email = email.as_str().to_owned();
                self.read(async move |conn: &mut $connection| {
                    users::table
                        .filter(users::email.eq(&email))
                        .select(UserRow::as_select())
                        .get_result(&mut *conn)
                        .await
                        .optional()
                        .map_err(error::unexpected)?
                        .map(UserRow::into_domain)
                        .transpose()
                })
                .await
            }

            async fn list_users(&self) -> Result<Vec<User>, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    users::table
                        .order((users::created_at.asc(), users::id.asc()))
                        .select(UserRow::as_select())
                        .load(&mut *conn)
                        .await
                        .map_err(error::unexpected)?
                        .into_iter()
                        .map(UserRow::into_domain)
                        .collect()
                })
                .await
            }

            async fn update_user(&self, user: &User) -> Result<(), StoreError> {
                let row = UserRow::new(user);
                self.write(async move |conn: &mut $connection| {
                    let changed = diesel::update(users::table.find(row.id))
                        .set(&row)
                        .execute(&mut *conn)
                        .await
                        .map_err(error::conflict("email"))?;
                    if changed == 0 {
                        return Err(StoreError::NotFound("user"));
                    }
                    Ok(())
                })
                .await
            }

            async fn delete_user(&self, id: UserId) -> Result<bool, StoreError> {
                // Memberships, sessions, consents, codes and grants (with
                // their refresh tokens) go with them through ON DELETE
                // CASCADE; the unique email is free again.
                self.write(async move |conn: &mut $connection| {
                    let deleted = diesel::delete(users::table.find(DbUuid(id.0)))
                        .execute(&mut *conn)
                        .await
                        .map_err(error::unexpected)?;
                    Ok(deleted > 0)
                })
                .await
            }

            async fn count_admins(&self) -> Result<u64, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    let admins: i64 = users::table
                        .filter(users::role.eq(Role::Admin.as_str()))
                        .count()
                        .get_result(&mut *conn)
                        .await
                        .map_err(error::unexpected)?;
                    Ok(u64::try_from(admins).unwrap_or(0))
                })
                .await
            }
        }

        #[async_trait::async_trait]
        impl OrgRepo for $store {
            async fn insert_org(
                &self,
                org: &Organization,
                owner: &Membership,
            ) -> Result<(), StoreError> {
                if owner.org_id != org.id {
                    return Err(error::invalid(
                        "the owner's membership names another organization",
                    ));
                }
                let org_row = OrgRow::new(org);
                let owner_row = MembershipRow::new(owner);
                self.write(async move |conn: &mut $connection| {
                    let c: &mut $connection = &mut *conn;
                    $tx(c, async move |c| {
                        diesel::insert_into(organizations::table)
                            .values(&org_row)
                            .execute(c)
                            .await?;
                        diesel::insert_into(memberships::table)
                            .values(&owner_row)
                            .execute(c)
                            .await?;
                        DbResult::Ok(())
                    })
                    .await
                    .map_err(error::parent_or_conflict("user", "organization"))
                })
                .await
            }

            async fn get_org(&self, id: OrgId) -> Result<Option<Organization>, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    Ok(organizations::table
                        .find(DbUuid(id.0))
                        .select(OrgRow::as_select())
                        .get_result(&mut *conn)
                        .await
                        .optional()
                        .map_err(error::unexpected)?
                        .map(OrgRow::into_domain))
                })
                .await
            }

            async fn update_org(&self, org: &Organization) -> Result<(), StoreError> {
                let row = OrgRow::new(org);
                self.write(async move |conn: &mut $connection| {
                    let changed = diesel::update(organizations::table.find(row.id))
                        .set(&row)
                        .execute(&mut *conn)
                        .await
                        .map_err(error::unexpected)?;
                    if changed == 0 {
                        return Err(StoreError::NotFound("organization"));
                    }
                    Ok(())
                })
                .await
            }

            async fn delete_org(&self, id: OrgId) -> Result<bool, StoreError> {
                self.write(async move |conn: &mut $connection| {
                    let deleted = diesel::delete(organizations::table.find(DbUuid(id.0)))
                        .execute(&mut *conn)
                        .await
                        .map_err(error::unexpected)?;
                    Ok(deleted > 0)
                })
                .await
            }

            async fn list_orgs(&self) -> Result<Vec<Organization>, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    Ok(organizations::table
                        .order((organizations::created_at.asc(), organizations::id.asc()))
                        .select(OrgRow::as_select())
                        .load(&mut *conn)
                        .await
                        .map_err(error::unexpected)?
                        .into_iter()
                        .map(OrgRow::into_domain)
                        .collect())
                })
                .await
            }

            async fn orgs_of_user(
                &self,
                user: UserId,
            ) -> Result<Vec<(Organization, OrgRole)>, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    let rows: Vec<(OrgRow, String)> = memberships::table
                        .inner_join(organizations::table)
                        .filter(memberships::user_id.eq(DbUuid(user.0)))
                        .order((organizations::created_at.asc(), organizations::id.asc()))
                        .select((OrgRow::as_select(), memberships::role))
                        .load(&mut *conn)
                        .await
                        .map_err(error::unexpected)?;
                    rows.into_iter()
                        .map(|(org, role)| Ok((org.into_domain(), org_role_of(&role)?)))
                        .collect()
                })
                .await
            }

            async fn members(&self, org: OrgId) -> Result<Vec<Membership>, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    memberships::table
                        .filter(memberships::org_id.eq(DbUuid(org.0)))
                        .order((memberships::created_at.asc(), memberships::user_id.asc()))
                        .select(MembershipRow::as_select())
                        .load(&mut *conn)
                        .await
                        .map_err(error::unexpected)?
                        .into_iter()
                        .map(MembershipRow::into_domain)
                        .collect()
                })
                .await
            }

            async fn member_users(
                &self,
                org: OrgId,
            ) -> Result<Vec<(Membership, User)>, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    let rows: Vec<(MembershipRow, UserRow)> = memberships::table
                        .inner_join(users::table)
                        .filter(memberships::org_id.eq(DbUuid(org.0)))
                        .order((memberships::created_at.asc(), memberships::user_id.asc()))
                        .select((MembershipRow::as_select(), UserRow::as_select()))
                        .load(&mut *conn)
                        .await
                        .map_err(error::unexpected)?;
                    rows.into_iter()
                        .map(|(m, u)| Ok((m.into_domain()?, u.into_domain()?)))
                        .collect()
                })
                .await
            }

            async fn org_mates(&self, user: UserId) -> Result<Vec<User>, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    let orgs: Vec<DbUuid> = memberships::table
                        .filter(memberships::user_id.eq(DbUuid(user.0)))
                        .select(memberships::org_id)
                        .load(&mut *conn)
                        .await
                        .map_err(error::unexpected)?;
                    users::table
                        .inner_join(memberships::table)
                        .filter(memberships::org_id.eq_any(orgs))
                        .select(UserRow::as_select())
                        .distinct()
                        .order((users::created_at.asc(), users::id.asc()))
                        .load(&mut *conn)
                        .await
                        .map_err(error::unexpected)?
                        .into_iter()
                        .map(UserRow::into_domain)
                        .collect()
                })
                .await
            }

            async fn membership(
                &self,
                org: OrgId,
                user: UserId,
            ) -> Result<Option<OrgRole>, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    let role: Option<String> = memberships::table
                        .find((DbUuid(org.0), DbUuid(user.0)))
                        .select(memberships::role)
                        .get_result(&mut *conn)
                        .await
                        .optional()
                        .map_err(error::unexpected)?;
                    role.as_deref().map(org_role_of).transpose()
                })
                .await
            }

            async fn put_member(&self, membership: &Membership) -> Result<(), StoreError> {
                let row = MembershipRow::new(membership);
                self.write(async move |conn: &mut $connection| {
                    let written = diesel::insert_into(memberships::table)
                        .values(&row)
                        .on_conflict((memberships::org_id, memberships::user_id))
                        .do_update()
                        .set((
                            memberships::role.eq(excluded(memberships::role)),
                            memberships::created_at.eq(excluded(memberships::created_at)),
                        ))
                        .execute(&mut *conn)
                        .await;
                    org_member_written(&mut *conn, written, row.org_id).await
                })
                .await
            }

            async fn remove_member(&self, org: OrgId, user: UserId) -> Result<bool, StoreError> {
                self.write(async move |conn: &mut $connection| {
                    let deleted =
                        diesel::delete(memberships::table.find((DbUuid(org.0), DbUuid(user.0))))
                            .execute(&mut *conn)
                            .await
                            .map_err(error::unexpected)?;
                    Ok(deleted > 0)
                })
                .await
            }

            async fn put_invitation(&self, invitation: &Invitation) -> Result<(), StoreError> {
                let row = InvitationRow::new(invitation);
                self.write(async move |conn: &mut $connection| {
                    let written = diesel::insert_into(invitations::table)
                        .values(&row)
                        .on_conflict((invitations::org_id, invitations::user_id))
                        .do_update()
                        .set((
                            invitations::role.eq(excluded(invitations::role)),
                            invitations::invited_by.eq(excluded(invitations::invited_by)),
                            invitations::created_at.eq(excluded(invitations::created_at)),
                        ))
                        .execute(&mut *conn)
                        .await;
                    org_member_written(&mut *conn, written, row.org_id).await
                })
                .await
            }

            async fn invitations_of_user(
                &self,
                user: UserId,
            ) -> Result<Vec<(Invitation, Organization)>, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    let rows: Vec<(InvitationRow, OrgRow)> = invitations::table
                        .inner_join(organizations::table)
                        .filter(invitations::user_id.eq(DbUuid(user.0)))
                        .order((invitations::created_at.asc(), organizations::id.asc()))
                        .select((InvitationRow::as_select(), OrgRow::as_select()))
                        .load(&mut *conn)
                        .await
                        .map_err(error::unexpected)?;
                    rows.into_iter()
                        .map(|(i, o)| Ok((i.into_domain()?, o.into_domain())))
                        .collect()
                })
                .await
            }

            async fn invitations_to_org(&self, org: OrgId) -> Result<Vec<Invitation>, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    invitations::table
                        .filter(invitations::org_id.eq(DbUuid(org.0)))
                        .order((invitations::created_at.asc(), invitations::user_id.asc()))
                        .select(InvitationRow::as_select())
                        .load(&mut *conn)
                        .await
                        .map_err(error::unexpected)?
                        .into_iter()
                        .map(InvitationRow::into_domain)
                        .collect()
                })
                .await
            }

            async fn accept_invitation(
                &self,
                org: OrgId,
                user: UserId,
                at: OffsetDateTime,
            ) -> Result<Option<Membership>, StoreError> {
                self.write(async move |conn: &mut $connection| {
                    let key = (DbUuid(org.0), DbUuid(user.0));
                    $tx(&mut *conn, async move |c| {
                        // The delete is the lock: one caller gets the row.
                        let taken: Option<InvitationRow> =
                            diesel::delete(invitations::table.find(key))
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
                                created_at: DbTime(at),
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
                    .map_err(error::unexpected)?
                    .map(MembershipRow::into_domain)
                    .transpose()
                })
                .await
            }

            async fn delete_invitation(
                &self,
                org: OrgId,
                user: UserId,
            ) -> Result<bool, StoreError> {
                self.write(async move |conn: &mut $connection| {
                    let deleted =
                        diesel::delete(invitations::table.find((DbUuid(org.0), DbUuid(user.0))))
                            .execute(&mut *conn)
                            .await
                            .map_err(error::unexpected)?;
                    Ok(deleted > 0)
                })
                .await
            }
        }

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
                self.write(async move |conn: &mut $connection| {
                    // One statement decides: of concurrent callers exactly
                    // one flips `spent`.
                    let taken: Option<CodeRow> =
                        diesel::update(authorization_codes::table.find(&hash))
                            .filter(authorization_codes::spent.eq(false))
                            .set(authorization_codes::spent.eq(true))
                            .returning(CodeRow::as_returning())
                            .get_result(&mut *conn)
                            .await
                            .optional()
                            .map_err(error::unexpected)?;
                    if let Some(row) = taken {
                        return Ok(CodeRedemption::Redeemed(row.into_domain()?));
                    }
                    let spent: Option<DbUuid> = authorization_codes::table
                        .find(&hash)
                        .select(authorization_codes::grant_id)
                        .get_result(&mut *conn)
                        .await
                        .optional()
                        .map_err(error::unexpected)?;
                    Ok(match spent {
                        Some(grant) => CodeRedemption::Replayed(GrantId(grant.0)),
                        None => CodeRedemption::Unknown,
                    })
                })
                .await
            }

            async fn create_grant(
                &self,
                grant: &Grant,
                refresh: Option<RefreshToken>,
            ) -> Result<(), StoreError> {
                let grant_row = GrantRow::new(grant);
                let refresh_row = refresh.map(|t| RefreshRow::new(&t, grant_row.id));
                self.write(async move |conn: &mut $connection| {
                    let c: &mut $connection = &mut *conn;
                    $tx(c, async move |c| {
                        diesel::insert_into(grants::table)
                            .values(&grant_row)
                            .execute(c)
                            .await?;
                        if let Some(token) = &refresh_row {
                            diesel::insert_into(refresh_tokens::table)
                                .values(token)
                                .execute(c)
                                .await?;
                        }
                        DbResult::Ok(())
                    })
                    .await
                    .map_err(error::parent_or_conflict("client or user", "grant"))
                })
                .await
            }

            async fn get_grant(&self, id: GrantId) -> Result<Option<Grant>, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    grants::table
                        .find(DbUuid(id.0))
                        .select(GrantRow::as_select())
                        .get_result(&mut *conn)
                        .await
                        .optional()
                        .map_err(error::unexpected)?
                        .map(GrantRow::into_domain)
                        .transpose()
                })
                .await
            }

            async fn find_refresh(
                &self,
                hash: &TokenHash,
            ) -> Result<Option<(RefreshToken, Grant)>, StoreError> {
                let hash = hash_bytes(hash);
                self.read(async move |conn: &mut $connection| {
                    let found: Option<(RefreshRow, GrantRow)> = refresh_tokens::table
                        .inner_join(grants::table)
                        .filter(refresh_tokens::hash.eq(&hash))
                        .select((RefreshRow::as_select(), GrantRow::as_select()))
                        .get_result(&mut *conn)
                        .await
                        .optional()
                        .map_err(error::unexpected)?;
                    found
                        .map(|(token, grant)| Ok((token.into_domain()?, grant.into_domain()?)))
                        .transpose()
                })
                .await
            }

            async fn rotate_refresh(
                &self,
                presented: &TokenHash,
                next: &RefreshToken,
                now: OffsetDateTime,
                grace: time::Duration,
            ) -> Result<Rotation, StoreError> {
                let presented = hash_bytes(presented);
                let next = (
                    hash_bytes(&next.hash),
                    DbTime(next.issued_at),
                    DbTime(next.expires_at),
                );
                let grace_cutoff = grace.is_positive().then(|| DbTime(now - grace));
                let now = DbTime(now);
                self.write(async move |conn: &mut $connection| {
                    let c: &mut $connection = &mut *conn;
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
                    // Not current and no grace replay left: unknown, expired,
                    // or reuse of a rotated token.
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
                        Some((family, expires_at, Some(_rotated))) if expires_at.0 > now.0 => {
                            // Reuse: revoked and committed before answering,
                            // so it stands although the request fails. Only
                            // the call that revoked reports it; later ones
                            // meet a revoked family.
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
                    let user = DbUuid(user.0);
                    let at = DbTime(at);
                    $tx(&mut *conn, async move |c| {
                        let revoked = diesel::update(grants::table)
                            .filter(grants::user_id.eq(user.clone()))
                            .filter(grants::revoked_at.is_null())
                            .set(grants::revoked_at.eq(Some(at)))
                            .execute(c)
                            .await?;
                        let families = grants::table
                            .filter(grants::user_id.eq(user.clone()))
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
                    .map_err(error::unexpected)
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
                    consents::table
                        .find((DbUuid(user.0), &client))
                        .select(ConsentRow::as_select())
                        .get_result(&mut *conn)
                        .await
                        .optional()
                        .map_err(error::unexpected)?
                        .map(ConsentRow::into_domain)
                        .transpose()
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
                    sessions::table
                        .find(&hash)
                        .filter(sessions::expires_at.gt(DbTime(now)))
                        .select(SessionRow::as_select())
                        .get_result(&mut *conn)
                        .await
                        .optional()
                        .map_err(error::unexpected)?
                        .map(SessionRow::into_domain)
                        .transpose()
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

            async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
                let now = DbTime(now);
                let mut purged = 0u64;
                for kind in [
                    Expiring::Codes,
                    Expiring::RefreshTokens,
                    Expiring::DeniedAccessTokens,
                    Expiring::Sessions,
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
                    resources::table
                        .find(DbUuid(id.0))
                        .select(ResourceRow::as_select())
                        .get_result(&mut *conn)
                        .await
                        .optional()
                        .map_err(error::unexpected)?
                        .map(ResourceRow::into_domain)
                        .transpose()
                })
                .await
            }

            async fn get_resource_by_uri(&self, uri: &str) -> Result<Option<Resource>, StoreError> {
                let uri = uri.to_owned();
                self.read(async move |conn: &mut $connection| {
                    resources::table
                        .filter(resources::uri.eq(&uri))
                        .select(ResourceRow::as_select())
                        .get_result(&mut *conn)
                        .await
                        .optional()
                        .map_err(error::unexpected)?
                        .map(ResourceRow::into_domain)
                        .transpose()
                })
                .await
            }

            async fn list_resources(&self) -> Result<Vec<Resource>, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    resources::table
                        .order((resources::created_at.asc(), resources::id.asc()))
                        .select(ResourceRow::as_select())
                        .load(&mut *conn)
                        .await
                        .map_err(error::unexpected)?
                        .into_iter()
                        .map(ResourceRow::into_domain)
                        .collect()
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

        #[async_trait::async_trait]
        impl KeyStore for $store {
            async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    Ok(signing_keys::table
                        .order((signing_keys::created_at.desc(), signing_keys::kid.desc()))
                        .select(KeyRow::as_select())
                        .load(&mut *conn)
                        .await
                        .map_err(error::unexpected)?
                        .into_iter()
                        .map(KeyRow::into_domain)
                        .collect())
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
