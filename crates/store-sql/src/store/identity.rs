//! `IdentityRepo` (upstream identity providers, linked identities) on a
//! diesel backend.

/// Implementation detail of [`sql_store!`](crate::sql_store).
#[doc(hidden)]
#[macro_export]
macro_rules! __sql_identity {
    (store: $store:ty, connection: $connection:ty, write_transaction: $tx:path $(,)?) => {
        #[async_trait::async_trait]
        impl gatehouse_core::ports::IdentityRepo for $store {
            async fn insert_provider(
                &self,
                provider: &gatehouse_core::model::IdentityProvider,
            ) -> Result<(), StoreError> {
                let row = ProviderRow::new(provider);
                self.write(async move |conn: &mut $connection| {
                    diesel::insert_into(identity_providers::table)
                        .values(&row)
                        .execute(&mut *conn)
                        .await
                        .map_err(error::conflict("identity provider"))?;
                    Ok(())
                })
                .await
            }

            async fn get_provider(
                &self,
                id: gatehouse_core::model::IdpId,
            ) -> Result<Option<gatehouse_core::model::IdentityProvider>, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    let row: Option<ProviderRow> = identity_providers::table
                        .find(DbUuid(id.0))
                        .select(ProviderRow::as_select())
                        .get_result(&mut *conn)
                        .await
                        .optional()
                        .map_err(error::unexpected)?;
                    row.map(ProviderRow::into_domain).transpose()
                })
                .await
            }

            async fn provider_by_name(
                &self,
                name: &str,
            ) -> Result<Option<gatehouse_core::model::IdentityProvider>, StoreError> {
                let name = name.to_owned();
                self.read(async move |conn: &mut $connection| {
                    let row: Option<ProviderRow> = identity_providers::table
                        .filter(identity_providers::name.eq(&name))
                        .select(ProviderRow::as_select())
                        .get_result(&mut *conn)
                        .await
                        .optional()
                        .map_err(error::unexpected)?;
                    row.map(ProviderRow::into_domain).transpose()
                })
                .await
            }

            async fn list_providers(
                &self,
            ) -> Result<Vec<gatehouse_core::model::IdentityProvider>, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    let rows: Vec<ProviderRow> = identity_providers::table
                        .order(identity_providers::name.asc())
                        .select(ProviderRow::as_select())
                        .load(&mut *conn)
                        .await
                        .map_err(error::unexpected)?;
                    rows.into_iter().map(ProviderRow::into_domain).collect()
                })
                .await
            }

            async fn update_provider(
                &self,
                provider: &gatehouse_core::model::IdentityProvider,
            ) -> Result<(), StoreError> {
                let row = ProviderRow::new(provider);
                self.write(async move |conn: &mut $connection| {
                    let n = diesel::update(identity_providers::table.find(row.id.clone()))
                        .set(&row)
                        .execute(&mut *conn)
                        .await
                        .map_err(error::conflict("identity provider"))?;
                    if n == 0 {
                        return Err(StoreError::NotFound("identity provider"));
                    }
                    Ok(())
                })
                .await
            }

            async fn delete_provider(
                &self,
                id: gatehouse_core::model::IdpId,
            ) -> Result<bool, StoreError> {
                self.write(async move |conn: &mut $connection| {
                    let n = diesel::delete(identity_providers::table.find(DbUuid(id.0)))
                        .execute(&mut *conn)
                        .await
                        .map_err(error::unexpected)?;
                    Ok(n == 1)
                })
                .await
            }

            async fn link_identity(
                &self,
                link: &gatehouse_core::model::LinkedIdentity,
            ) -> Result<(), StoreError> {
                let row = LinkRow::new(link);
                self.write(async move |conn: &mut $connection| {
                    diesel::insert_into(linked_identities::table)
                        .values(&row)
                        .execute(&mut *conn)
                        .await
                        .map_err(error::parent_or_conflict(
                            "user or identity provider",
                            "linked identity",
                        ))?;
                    Ok(())
                })
                .await
            }

            async fn find_identity(
                &self,
                issuer: &str,
                subject: &str,
            ) -> Result<Option<gatehouse_core::model::LinkedIdentity>, StoreError> {
                let key = (issuer.to_owned(), subject.to_owned());
                self.read(async move |conn: &mut $connection| {
                    let row: Option<LinkRow> = linked_identities::table
                        .find((&key.0, &key.1))
                        .select(LinkRow::as_select())
                        .get_result(&mut *conn)
                        .await
                        .optional()
                        .map_err(error::unexpected)?;
                    Ok(row.map(LinkRow::into_domain))
                })
                .await
            }

            async fn user_identities(
                &self,
                user: UserId,
            ) -> Result<Vec<gatehouse_core::model::LinkedIdentity>, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    let rows: Vec<LinkRow> = linked_identities::table
                        .filter(linked_identities::user_id.eq(DbUuid(user.0)))
                        .order((
                            linked_identities::created_at.asc(),
                            linked_identities::issuer.asc(),
                            linked_identities::subject.asc(),
                        ))
                        .select(LinkRow::as_select())
                        .load(&mut *conn)
                        .await
                        .map_err(error::unexpected)?;
                    Ok(rows.into_iter().map(LinkRow::into_domain).collect())
                })
                .await
            }

            async fn touch_identity(
                &self,
                issuer: &str,
                subject: &str,
                at: OffsetDateTime,
            ) -> Result<(), StoreError> {
                let key = (issuer.to_owned(), subject.to_owned());
                self.write(async move |conn: &mut $connection| {
                    diesel::update(linked_identities::table.find((&key.0, &key.1)))
                        .set(linked_identities::last_used_at.eq(DbTime(at)))
                        .execute(&mut *conn)
                        .await
                        .map_err(error::unexpected)?;
                    Ok(())
                })
                .await
            }

            async fn unlink_identity(
                &self,
                user: UserId,
                issuer: &str,
                subject: &str,
            ) -> Result<bool, StoreError> {
                let key = (issuer.to_owned(), subject.to_owned());
                self.write(async move |conn: &mut $connection| {
                    let n = diesel::delete(
                        linked_identities::table
                            .find((&key.0, &key.1))
                            .filter(linked_identities::user_id.eq(DbUuid(user.0))),
                    )
                    .execute(&mut *conn)
                    .await
                    .map_err(error::unexpected)?;
                    Ok(n == 1)
                })
                .await
            }
        }
    };
}
