//! `OrgRepo` (organizations, memberships, invitations) on a diesel backend.

/// Implementation detail of [`sql_store!`](crate::sql_store).
#[doc(hidden)]
#[macro_export]
macro_rules! __sql_orgs {
    (store: $store:ty, connection: $connection:ty, write_transaction: $tx:path $(,)?) => {
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
                    insert_with_owner(conn, org_row, owner_row)
                        .await
                        .map_err(error::parent_or_conflict("user", "organization"))
                })
                .await
            }

            async fn get_org(&self, id: OrgId) -> Result<Option<Organization>, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    found(
                        organizations::table
                            .find(DbUuid(id.0))
                            .select(OrgRow::as_select())
                            .get_result(&mut *conn)
                            .await,
                    )
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
                    listed(
                        organizations::table
                            .order((organizations::created_at.asc(), organizations::id.asc()))
                            .select(OrgRow::as_select())
                            .load(&mut *conn)
                            .await,
                    )
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
                    listed(
                        memberships::table
                            .filter(memberships::org_id.eq(DbUuid(org.0)))
                            .order((memberships::created_at.asc(), memberships::user_id.asc()))
                            .select(MembershipRow::as_select())
                            .load(&mut *conn)
                            .await,
                    )
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
                    listed(
                        users::table
                            .inner_join(memberships::table)
                            .filter(memberships::org_id.eq_any(orgs))
                            .select(UserRow::as_select())
                            .distinct()
                            .order((users::created_at.asc(), users::id.asc()))
                            .load(&mut *conn)
                            .await,
                    )
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
                    listed(
                        invitations::table
                            .filter(invitations::org_id.eq(DbUuid(org.0)))
                            .order((invitations::created_at.asc(), invitations::user_id.asc()))
                            .select(InvitationRow::as_select())
                            .load(&mut *conn)
                            .await,
                    )
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
                    accept_in_transaction(conn, (DbUuid(org.0), DbUuid(user.0)), DbTime(at))
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
    };
}
