//! Dynamic Client Registration (RFC 7591) and its management protocol
//! (RFC 7592): how MCP clients that nobody registered by hand get a
//! `client_id`.
//!
//! Real clients break on `null` fields and on a missing
//! `token_endpoint_auth_method`, so responses carry every registered field
//! with a value and never a null.

use serde_json::{Map, Value, json};

use super::Gatehouse;
use crate::audit::{AuditEvent, AuditKind};
use crate::error::{ErrorCode, OAuthError};
use crate::metadata::{ClientMetadata, MetadataError};
use crate::model::{
    ApplicationType, Client, ClientId, ClientOrigin, GrantType, TokenEndpointAuthMethod,
};
use crate::redirect::RedirectUri;
use crate::scope::ScopeSet;
use crate::secret::{Secret, TokenHash};

/// Whether and how clients may register themselves (`GATEHOUSE_REGISTRATION`:
/// `open`, `token` or `off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistrationPolicy {
    /// Anyone may register (what MCP clients expect).
    Open,
    /// Registration needs an initial access token (RFC 7591 §3).
    Token,
    /// No dynamic registration; the endpoint is not offered.
    Off,
}

fn bad_metadata(d: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClientMetadata, d)
}

impl From<MetadataError> for OAuthError {
    fn from(e: MetadataError) -> Self {
        match e {
            MetadataError::RedirectUri(d) => OAuthError::new(ErrorCode::InvalidRedirectUri, d),
            MetadataError::Invalid(d) => bad_metadata(d),
        }
    }
}

/// Validated registration metadata.
struct Metadata {
    name: String,
    redirect_uris: Vec<RedirectUri>,
    auth_method: TokenEndpointAuthMethod,
    grant_types: Vec<GrantType>,
    application_type: ApplicationType,
    scope: ScopeSet,
    extra: Value,
}

/// The shared rules ([`ClientMetadata::parse`]) plus registration's own:
/// RFC 7591's defaults, a secret for `client_credentials`, consistent
/// response types, and https-only redirects for web clients.
fn parse_metadata(body: &Value) -> Result<Metadata, OAuthError> {
    let m = ClientMetadata::parse(body)?;
    // RFC 7591 §2: the default is client_secret_basic.
    let auth_method = m
        .auth_method
        .unwrap_or(TokenEndpointAuthMethod::ClientSecretBasic);
    let grant_types = m
        .grant_types
        .clone()
        .unwrap_or_else(|| vec![GrantType::AuthorizationCode]);
    if grant_types.is_empty() {
        return Err(bad_metadata("grant_types must not be empty"));
    }
    if grant_types.contains(&GrantType::ClientCredentials)
        && auth_method == TokenEndpointAuthMethod::None
    {
        return Err(bad_metadata(
            "client_credentials needs a client that authenticates",
        ));
    }
    let uses_code = grant_types.contains(&GrantType::AuthorizationCode);
    let response_types = m.response_types.clone().unwrap_or_else(|| {
        if uses_code {
            vec!["code".into()]
        } else {
            vec![]
        }
    });
    if response_types.iter().any(|r| r != "code")
        || (uses_code != response_types.iter().any(|r| r == "code"))
    {
        return Err(bad_metadata(
            "response_types must be [\"code\"] with the authorization_code grant",
        ));
    }
    if uses_code && m.redirect_uris.is_empty() {
        return Err(OAuthError::new(
            ErrorCode::InvalidRedirectUri,
            "redirect_uris is required",
        ));
    }
    // Not sent (older MCP clients): inferred from the redirect URIs.
    let application_type = m.application_type.unwrap_or(if m.native_redirects() {
        ApplicationType::Native
    } else {
        ApplicationType::Web
    });
    if application_type == ApplicationType::Web && m.redirect_uris.iter().any(|r| !r.is_web()) {
        return Err(OAuthError::new(
            ErrorCode::InvalidRedirectUri,
            "web clients may only use https (or loopback http) redirect URIs",
        ));
    }
    let mut extra = m.extra;
    if let Some(c) = m.contacts {
        extra.insert("contacts".into(), json!(c));
    }
    if let Some(n) = &m.client_name {
        extra.insert("client_name".into(), Value::String(n.clone()));
    }
    Ok(Metadata {
        name: m
            .client_name
            .unwrap_or_else(|| "Unnamed application".to_owned()),
        redirect_uris: m.redirect_uris,
        auth_method,
        grant_types,
        application_type,
        scope: m.scope,
        extra: Value::Object(extra),
    })
}

/// What identifies the software behind a public registration, hashed:
/// its name, grant types, application type, `software_id`, and redirect
/// URIs with loopback ports dropped (a native client picks a new port each
/// run, and loopback redirects match any port anyway, RFC 8252 §7.3).
/// Confidential clients get `None`: each holds its own secret, so two
/// registrations are two clients.
fn registration_key(m: &Metadata) -> Option<TokenHash> {
    if m.auth_method != TokenEndpointAuthMethod::None {
        return None;
    }
    let mut redirects: Vec<String> = m
        .redirect_uris
        .iter()
        .map(|r| match url::Url::parse(r.as_str()) {
            Ok(mut u) if r.is_loopback() => {
                let _ = u.set_port(None);
                u.to_string()
            }
            _ => r.as_str().to_owned(),
        })
        .collect();
    redirects.sort();
    redirects.dedup();
    let mut grants: Vec<&str> = m.grant_types.iter().map(|g| g.as_str()).collect();
    grants.sort_unstable();
    let software = m
        .extra
        .get("software_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // Length-prefixed fields: no two different tuples hash alike.
    let mut canonical = String::from("gatehouse/registration/v1");
    for field in [
        m.name.as_str(),
        m.application_type.as_str(),
        software,
        &grants.join(" "),
        &redirects.join(" "),
    ] {
        canonical.push_str(&format!("\n{}:{field}", field.len()));
    }
    Some(TokenHash::of(&canonical))
}

fn invalid_token(d: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidToken, d)
}

impl Gatehouse {
    /// Registers a client (RFC 7591 §3). `bearer` is the initial access
    /// token, if one was presented; `source` the client's address.
    ///
    /// The same public software registering again (see
    /// [`registration_key`]) gets its earlier client back, with the new
    /// registration's metadata and a new registration access token, rather
    /// than another row: MCP clients re-register on every install and often
    /// every run. A registration that would create a client spends the
    /// address's hourly budget (`GATEHOUSE_REGISTRATIONS_PER_ADDRESS_PER_HOUR`).
    ///
    /// # Errors
    /// `invalid_token` when the policy needs an initial access token and
    /// none valid was given; `invalid_redirect_uri` and
    /// `invalid_client_metadata` for bad metadata; a 429
    /// `temporarily_unavailable` when the address's budget is spent.
    #[tracing::instrument(level = "info", skip_all)]
    pub async fn register_client(
        &self,
        bearer: Option<&str>,
        body: &Value,
        source: Option<std::net::IpAddr>,
    ) -> Result<Value, OAuthError> {
        match self.settings.registration {
            RegistrationPolicy::Off => {
                return Err(OAuthError::new(
                    ErrorCode::AccessDenied,
                    "dynamic client registration is disabled",
                ));
            }
            RegistrationPolicy::Token => {
                let Some(token) = bearer else {
                    return Err(invalid_token(
                        "an initial access token is required to register",
                    ));
                };
                let configured = self
                    .settings
                    .registration_token
                    .is_some_and(|h| h.ct_eq(&TokenHash::of(token)));
                let admin = match self.authenticate_bearer(token).await {
                    Ok(caller) => caller.is_admin(),
                    Err(_) => false,
                };
                if !configured && !admin {
                    return Err(invalid_token("the initial access token is not valid"));
                }
            }
            RegistrationPolicy::Open => {}
        }
        let m = parse_metadata(body)?;
        // A machine client gets tokens with no user's consent behind them, so
        // it must be vouched for: by an admin, or by an initial access token.
        if m.grant_types.contains(&GrantType::ClientCredentials)
            && self.settings.registration != RegistrationPolicy::Token
        {
            return Err(bad_metadata(
                "client_credentials clients cannot register themselves here; ask an administrator",
            ));
        }
        let now = self.now();
        let registration_token = Secret::generate("gtreg_");
        let key = registration_key(&m);
        if let Some(key) = &key
            && let Some(mut client) = self.ports.clients.client_by_registration_key(key).await?
        {
            client.redirect_uris = m.redirect_uris;
            client.allowed_scopes = m.scope;
            client.metadata = m.extra;
            client.registration_token_hash = Some(registration_token.hash());
            client.updated_at = now;
            self.ports.clients.update_client(&client).await?;
            tracing::info!(client_id = %client.id, "the same software registered again; its client was reused");
            self.audit(
                AuditEvent::new(AuditKind::ClientUpdated, now)
                    .client(&client.id)
                    .ip(source)
                    .detail("origin", "dynamic_registration")
                    .detail("reused", true),
            )
            .await;
            return Ok(self.registration_response(&client, None, Some(&registration_token)));
        }
        if let Err(wait) = self.registrations.spend(source, now) {
            tracing::info!(source = ?source, "registration refused: the address's hourly budget is spent");
            return Err(OAuthError::too_many_requests(
                "too many client registrations from this address; try again later",
                u64::try_from(wait.whole_seconds()).unwrap_or(1) + 1,
            ));
        }
        let secret =
            (m.auth_method != TokenEndpointAuthMethod::None).then(|| Secret::generate("secret_"));
        let client = Client {
            id: ClientId::generate(),
            secret_hash: secret.as_ref().map(Secret::hash),
            name: m.name,
            description: String::new(),
            redirect_uris: m.redirect_uris,
            allowed_scopes: m.scope,
            auth_method: m.auth_method,
            grant_types: m.grant_types,
            application_type: m.application_type,
            origin: ClientOrigin::Dynamic,
            require_pkce: true,
            registration_token_hash: Some(registration_token.hash()),
            metadata: m.extra,
            metadata_expires_at: None,
            created_at: now,
            updated_at: now,
            last_used_at: None,
            registration_key: key,
        };
        self.ports.clients.insert_client(&client).await?;
        tracing::info!(client_id = %client.id, "client registered dynamically");
        self.audit(
            AuditEvent::new(AuditKind::ClientCreated, now)
                .client(&client.id)
                .ip(source)
                .detail("origin", "dynamic_registration"),
        )
        .await;
        Ok(self.registration_response(&client, secret.as_ref(), Some(&registration_token)))
    }

    /// The RFC 7591 §3.2.1 / RFC 7592 §3 response body: every field with a
    /// value, none null.
    pub fn registration_response(
        &self,
        client: &Client,
        secret: Option<&Secret>,
        registration_token: Option<&Secret>,
    ) -> Value {
        let mut out = match &client.metadata {
            Value::Object(m) => m.clone(),
            _ => Map::new(),
        };
        out.insert("client_id".into(), json!(client.id.as_str()));
        out.insert(
            "client_id_issued_at".into(),
            json!(client.created_at.unix_timestamp()),
        );
        if let Some(s) = secret {
            out.insert("client_secret".into(), json!(s.expose()));
        }
        if client.is_confidential() {
            out.insert("client_secret_expires_at".into(), json!(0));
        }
        out.insert("client_name".into(), json!(client.name));
        out.insert("redirect_uris".into(), json!(client.redirect_uris));
        // OIDC Dynamic Client Registration §2 defaults this to RS256; say
        // what Gatehouse really signs with, so a client that validates the
        // header against its registration is not surprised.
        out.insert("id_token_signed_response_alg".into(), json!("ES256"));
        out.insert(
            "token_endpoint_auth_method".into(),
            json!(client.auth_method.as_str()),
        );
        out.insert(
            "grant_types".into(),
            json!(
                client
                    .grant_types
                    .iter()
                    .map(|g| g.as_str())
                    .collect::<Vec<_>>()
            ),
        );
        let response_types: Vec<&str> = if client.may_use(GrantType::AuthorizationCode) {
            vec!["code"]
        } else {
            vec![]
        };
        out.insert("response_types".into(), json!(response_types));
        out.insert(
            "application_type".into(),
            json!(client.application_type.as_str()),
        );
        if !client.allowed_scopes.is_empty() {
            out.insert("scope".into(), json!(client.allowed_scopes.to_string()));
        }
        if let Some(t) = registration_token {
            out.insert("registration_access_token".into(), json!(t.expose()));
        }
        if client.origin == ClientOrigin::Dynamic {
            out.insert(
                "registration_client_uri".into(),
                json!(format!("{}/register/{}", self.settings.issuer, client.id)),
            );
        }
        Value::Object(out)
    }

    /// The dynamic client `client_id`, if `token` is its registration access
    /// token (RFC 7592 §3).
    ///
    /// # Errors
    /// `invalid_token` (401) for any mismatch, including unknown clients, so
    /// the endpoint does not reveal which client ids exist.
    #[tracing::instrument(level = "info", skip_all)]
    pub async fn registered_client(
        &self,
        client_id: &str,
        token: Option<&str>,
    ) -> Result<Client, OAuthError> {
        let denied = || invalid_token("the registration access token is not valid for this client");
        let token = token.ok_or_else(denied)?;
        let id = ClientId::parse(client_id).map_err(|_| denied())?;
        let client = self
            .ports
            .clients
            .get_client(&id)
            .await?
            .ok_or_else(denied)?;
        match &client.registration_token_hash {
            Some(h) if h.ct_eq(&TokenHash::of(token)) => Ok(client),
            _ => Err(denied()),
        }
    }

    /// RFC 7592 §2.2: replaces a dynamic client's metadata.
    ///
    /// # Errors
    /// As [`Gatehouse::registered_client`], plus metadata errors; a body
    /// whose `client_id` differs is `invalid_request`.
    #[tracing::instrument(level = "info", skip_all)]
    pub async fn update_registration(
        &self,
        client_id: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Result<Value, OAuthError> {
        let mut client = self.registered_client(client_id, token).await?;
        if body.get("client_id").and_then(Value::as_str) != Some(client.id.as_str()) {
            return Err(OAuthError::invalid_request(
                "the body's client_id must match the client being updated",
            ));
        }
        if let Some(s) = body.get("client_secret").and_then(Value::as_str)
            && !client
                .secret_hash
                .is_some_and(|h| h.ct_eq(&TokenHash::of(s)))
        {
            return Err(OAuthError::invalid_request("client_secret does not match"));
        }
        let m = parse_metadata(body)?;
        if m.grant_types.contains(&GrantType::ClientCredentials)
            && !client.may_use(GrantType::ClientCredentials)
        {
            return Err(bad_metadata(
                "a client cannot add the client_credentials grant to itself",
            ));
        }
        // Switching between public and confidential would need a new secret
        // or would leave a useless one; re-register instead.
        if (m.auth_method == TokenEndpointAuthMethod::None)
            != (client.auth_method == TokenEndpointAuthMethod::None)
        {
            return Err(bad_metadata(
                "token_endpoint_auth_method cannot switch between none and a secret; register a new client",
            ));
        }
        // A client shared by every install of one public software (see
        // `registration_key`) keeps what identifies it: whoever holds the
        // newest registration token must not point the other installs'
        // app, and the consents its users gave it, somewhere else.
        if let Some(key) = &client.registration_key
            && registration_key(&m).as_ref() != Some(key)
        {
            return Err(bad_metadata(
                "this client is shared by every install of the same software: its name, redirect \
                 URIs, grant types, application type and software_id cannot change; register a \
                 new client instead",
            ));
        }
        client.name = m.name;
        client.redirect_uris = m.redirect_uris;
        client.auth_method = m.auth_method;
        client.grant_types = m.grant_types;
        client.application_type = m.application_type;
        client.allowed_scopes = m.scope;
        client.metadata = m.extra;
        client.updated_at = self.now();
        self.ports.clients.update_client(&client).await?;
        Ok(self.registration_response(&client, None, None))
    }

    /// RFC 7592 §2.3: the client deregisters itself.
    ///
    /// # Errors
    /// As [`Gatehouse::registered_client`].
    #[tracing::instrument(level = "info", skip_all)]
    pub async fn delete_registration(
        &self,
        client_id: &str,
        token: Option<&str>,
    ) -> Result<(), OAuthError> {
        let client = self.registered_client(client_id, token).await?;
        self.ports.clients.delete_client(&client.id).await?;
        self.publish_revocation(
            crate::model::RevokedSubject::Client {
                client: client.id.clone(),
            },
            "client_deleted",
        )
        .await;
        tracing::info!(client_id = %client.id, "dynamic client deleted itself");
        self.audit(
            AuditEvent::new(AuditKind::ClientDeleted, self.now())
                .client(&client.id)
                .detail("by", "the client (RFC 7592)"),
        )
        .await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::scope::ADMIN_SCOPE;

    /// Registration requests, each field plausible or hostile.
    fn request_like() -> impl Strategy<Value = Value> {
        crate::testing::client_metadata_like().prop_map(Value::Object)
    }

    proptest! {
        #![proptest_config(crate::testing::proptest_config())]

        /// Any body is accepted or refused without panicking; accepted
        /// metadata re-validates field by field, and never holds the admin
        /// scope or the token-exchange grant.
        #[test]
        fn accepted_registrations_revalidate(body in request_like()) {
            if let Ok(m) = parse_metadata(&body) {
                prop_assert_eq!(crate::model::validate_name(&m.name), Ok(m.name.clone()));
                for r in &m.redirect_uris {
                    prop_assert_eq!(RedirectUri::parse(r.as_str()), Ok(r.clone()));
                }
                prop_assert!(!m.scope.contains(ADMIN_SCOPE));
                prop_assert!(!m.grant_types.contains(&GrantType::TokenExchange));
                prop_assert!(!m.grant_types.is_empty());
                if m.grant_types.contains(&GrantType::AuthorizationCode) {
                    prop_assert!(!m.redirect_uris.is_empty());
                }
                let mut extra = m.extra.as_object().unwrap().clone();
                extra.remove("contacts");
                extra.remove("client_name");
                prop_assert_eq!(crate::metadata::optional_fields(&extra), Ok(extra.clone()));
            }
            let _ = parse_metadata(&json!([body]));
        }
    }
}
