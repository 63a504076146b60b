//! `UserRepo` on a diesel backend.

/// Implementation detail of [`sql_store!`](crate::sql_store).
#[doc(hidden)]
#[macro_export]
macro_rules! __sql_users {
    (store: $store:ty, connection: $connection:ty, write_transaction: $tx:path $(,)?) => {
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
                    found(
                        users::table
                            .find(DbUuid(id.0))
                            .select(UserRow::as_select())
                            .get_result(&mut *conn)
                            .await,
                    )
                })
                .await
            }

            async fn get_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
                let email = email.as_str().to_owned();
                self.read(async move |conn: &mut $connection| {
                    found(
                        users::table
                            .filter(users::email.eq(&email))
                            .select(UserRow::as_select())
                            .get_result(&mut *conn)
                            .await,
                    )
                })
                .await
            }

            async fn list_users(&self) -> Result<Vec<User>, StoreError> {
                self.read(async move |conn: &mut $connection| {
                    listed(
                        users::table
                            .order((users::created_at.asc(), users::id.asc()))
                            .select(UserRow::as_select())
                            .load(&mut *conn)
                            .await,
                    )
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
    };
}
