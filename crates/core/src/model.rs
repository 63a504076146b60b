//! The records Gatehouse keeps: clients, people, organizations and the
//! grants that connect them.
//!
//! Identifiers and validated values are newtypes with private fields, so an
//! unchecked string cannot reach a port or a rule.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::pkce::CodeChallenge;
use crate::redirect::RedirectUri;
use crate::scope::{ADMIN_SCOPE, ScopeSet};
use crate::secret::{TokenHash, fill_random};

/// Why an identifier or field was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub &'static str);

/// An OAuth `client_id`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientId(String);

impl ClientId {
    /// Checks a presented `client_id`: 1–512 visible ASCII characters.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        if raw.is_empty() || raw.len() > 512 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidValue("client_id is malformed"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A new `oauth_…` identifier with 128 random bits.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 16];
        fill_random(&mut bytes);
        Self(format!("oauth_{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The identifier as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ClientId {
    type Error = InvalidValue;
    fn try_from(v: String) -> Result<Self, Self::Error> {
        Self::parse(&v)
    }
}

impl From<ClientId> for String {
    fn from(v: ClientId) -> Self {
        v.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientId({})", self.0)
    }
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh random identifier.
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }

            /// Parses the textual form; `None` if it is not a UUID.
            pub fn parse(s: &str) -> Option<Self> {
                Uuid::parse_str(s).ok().map(Self)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }
    };
}

uuid_id!(
    /// A platform user's identifier; the `sub` of their tokens.
    UserId
);
uuid_id!(
    /// An organization's identifier.
    OrgId
);
uuid_id!(
    /// A protected resource (an MCP server or other API) registered by an
    /// admin.
    ResourceId
);
uuid_id!(
    /// A grant (refresh-token family): everything issued from one
    /// authorization, revoked together.
    GrantId
);

/// A normalized email address: trimmed, NFKC-folded (so full-width and
/// other compatibility look-alikes become the address they imitate) and
/// lower-cased, with no invisible or formatting characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Longest address accepted, in bytes (RFC 5321's path limit).
    pub const MAX_LEN: usize = 254;

    /// An address read back from a store: written under this version's rules
    /// or an older one's, so only what every version guaranteed is checked
    /// (an `@`, a sane length). A stricter rule added later must not make an
    /// existing account unreadable.
    pub fn from_stored(raw: String) -> Result<Self, InvalidValue> {
        if raw.len() > 4 * Self::MAX_LEN || !raw.contains('@') {
            return Err(InvalidValue("stored email address is not valid"));
        }
        Ok(Self(raw))
    }

    /// Accepts `local@domain`: at most 254 bytes after normalizing, a local
    /// part of at most 64, a domain with a dot-separated label structure,
    /// no whitespace, no invisible or formatting characters.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let invalid = || InvalidValue("email address is not valid");
        let raw = raw.trim();
        // Checked before normalizing, so hostile input costs nothing.
        if raw.is_empty() || raw.len() > 4 * Self::MAX_LEN {
            return Err(invalid());
        }
        let v = crate::text::fold(raw).to_lowercase();
        if v.len() > Self::MAX_LEN
            || v.chars()
                .any(|c| c.is_whitespace() || crate::text::is_deceptive(c))
        {
            return Err(invalid());
        }
        let (local, domain) = v.split_once('@').ok_or_else(invalid)?;
        let label_ok = |l: &str| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-');
        let valid = !local.is_empty()
            && local.len() <= 64
            && !domain.contains('@')
            && domain.split('.').all(label_ok)
            && !domain.chars().any(|c| {
                matches!(
                    c,
                    '"' | '(' | ')' | ',' | ':' | ';' | '<' | '>' | '[' | ']' | '\\'
                )
            });
        if valid { Ok(Self(v)) } else { Err(invalid()) }
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = InvalidValue;
    fn try_from(v: String) -> Result<Self, Self::Error> {
        Self::parse(&v)
    }
}

impl From<Email> for String {
    fn from(v: Email) -> Self {
        v.0
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

/// A display name: 1–200 characters, none of them invisible or able to
/// reorder what is displayed around them ([`crate::text::is_displayable`]),
/// so a name on the consent page reads as what it is.
pub fn validate_name(raw: &str) -> Result<String, InvalidValue> {
    let v = raw.trim();
    if v.is_empty() || v.chars().count() > 200 {
        return Err(InvalidValue("name must be 1 to 200 printable characters"));
    }
    if !crate::text::is_displayable(v) {
        return Err(InvalidValue(
            "name must not contain control, formatting, invisible or bidirectional-override characters",
        ));
    }
    Ok(v.to_owned())
}

/// A free-text description: optional, trimmed, at most 2000 characters.
pub fn validate_description(raw: Option<String>) -> Result<String, InvalidValue> {
    let d = raw.unwrap_or_default();
    if d.chars().count() > 2000 {
        return Err(InvalidValue(
            "description is too long (at most 2000 characters)",
        ));
    }
    Ok(d.trim().to_owned())
}

/// How a client proves who it is at the token endpoint (RFC 7591 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuthMethod {
    /// A public client: no secret (native, CLI, browser apps); PKCE required.
    None,
    /// The secret in an HTTP Basic header.
    ClientSecretBasic,
    /// The secret in the form body.
    ClientSecretPost,
}

impl TokenEndpointAuthMethod {
    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
        }
    }

    /// Parses the registered name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Self::None),
            "client_secret_basic" => Some(Self::ClientSecretBasic),
            "client_secret_post" => Some(Self::ClientSecretPost),
            _ => None,
        }
    }
}

/// The grant types a client may use (RFC 7591 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum GrantType {
    /// `authorization_code`.
    #[serde(rename = "authorization_code")]
    AuthorizationCode,
    /// `refresh_token`.
    #[serde(rename = "refresh_token")]
    RefreshToken,
    /// `client_credentials`.
    #[serde(rename = "client_credentials")]
    ClientCredentials,
    /// `urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693).
    #[serde(rename = "urn:ietf:params:oauth:grant-type:token-exchange")]
    TokenExchange,
}

impl GrantType {
    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
        }
    }

    /// Parses the registered name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "authorization_code" => Some(Self::AuthorizationCode),
            "refresh_token" => Some(Self::RefreshToken),
            "client_credentials" => Some(Self::ClientCredentials),
            "urn:ietf:params:oauth:grant-type:token-exchange" => Some(Self::TokenExchange),
            _ => None,
        }
    }
}

/// RFC 7591 / OIDC `application_type`: what kind of redirect URIs make sense.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationType {
    /// A server-side or browser app.
    Web,
    /// A desktop, mobile or CLI app (loopback or custom-scheme redirects).
    Native,
}

impl ApplicationType {
    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Native => "native",
        }
    }

    /// Parses the registered name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "web" => Some(Self::Web),
            "native" => Some(Self::Native),
            _ => None,
        }
    }
}

/// How a client came to be known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientOrigin {
    /// Registered by a platform admin through the admin API.
    Admin,
    /// Registered by itself through Dynamic Client Registration (RFC 7591).
    Dynamic,
    /// Described by a Client ID Metadata Document fetched from its URL.
    Metadata,
}

impl ClientOrigin {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Dynamic => "dynamic",
            Self::Metadata => "metadata",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "dynamic" => Some(Self::Dynamic),
            "metadata" => Some(Self::Metadata),
            _ => None,
        }
    }
}

/// A registered OAuth client.
#[derive(Clone, PartialEq)]
pub struct Client {
    /// The public identifier.
    pub id: ClientId,
    /// SHA-256 of the secret; `None` for public clients.
    pub secret_hash: Option<TokenHash>,
    /// Shown on the consent page.
    pub name: String,
    /// Free text for administrators.
    pub description: String,
    /// Where authorization responses may go.
    pub redirect_uris: Vec<RedirectUri>,
    /// The most this client may ever be granted.
    pub allowed_scopes: ScopeSet,
    /// How it authenticates at the token endpoint; `None` means public.
    pub auth_method: TokenEndpointAuthMethod,
    /// The grants it may use.
    pub grant_types: Vec<GrantType>,
    /// Web or native.
    pub application_type: ApplicationType,
    /// Admin-registered, dynamically registered, or a metadata document.
    pub origin: ClientOrigin,
    /// Whether PKCE is required; always true for public clients.
    pub require_pkce: bool,
    /// SHA-256 of the RFC 7592 registration access token (dynamic clients).
    pub registration_token_hash: Option<TokenHash>,
    /// Other RFC 7591 metadata echoed back as registered (`client_uri`,
    /// `logo_uri`, `contacts`, `tos_uri`, `policy_uri`, `software_id`,
    /// `software_version`): a JSON object, `{}` when none.
    pub metadata: serde_json::Value,
    /// For metadata-document clients: when the cached document goes stale.
    pub metadata_expires_at: Option<OffsetDateTime>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

impl Client {
    /// Whether the client holds a secret.
    pub fn is_confidential(&self) -> bool {
        self.auth_method != TokenEndpointAuthMethod::None
    }

    /// The protected resource this client is the server of (for token
    /// exchange), kept as `resource` in its metadata.
    pub fn served_resource(&self) -> Option<String> {
        self.metadata
            .get("resource")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    }

    /// The audiences an administrator allowed this client to exchange its
    /// users' tokens for (RFC 8693), kept as `exchange_targets` in its
    /// metadata: registered resource URIs, or the platform API's audience.
    /// Anything else needs the user's own approval of that target.
    pub fn exchange_targets(&self) -> Vec<&str> {
        self.metadata
            .get("exchange_targets")
            .and_then(serde_json::Value::as_array)
            .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
            .unwrap_or_default()
    }

    /// Whether the client may use `grant`.
    pub fn may_use(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// The registered redirect URI that `presented` matches, if any.
    pub fn redirect_for(&self, presented: &str) -> Option<&RedirectUri> {
        self.redirect_uris.iter().find(|r| r.matches(presented))
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("auth_method", &self.auth_method)
            .field("origin", &self.origin)
            .field("redirect_uris", &self.redirect_uris)
            .field("allowed_scopes", &self.allowed_scopes)
            .finish_non_exhaustive()
    }
}

/// A protected resource: an API (typically an MCP server) that accepts
/// Gatehouse tokens whose `aud` is its URI (RFC 8707, RFC 9728).
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// Identifier.
    pub id: ResourceId,
    /// The canonical resource URI (the `aud` of its tokens).
    pub uri: String,
    /// Display name, shown on the consent page.
    pub name: String,
    /// Scopes it accepts; they may be granted on tokens for it.
    pub scopes: ScopeSet,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// A platform-wide role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// May administer clients and every account.
    Admin,
    /// An ordinary account.
    User,
}

impl Role {
    /// The scopes a token for someone with this role may ever carry.
    pub fn permitted_scopes(self) -> ScopeSet {
        let all = ScopeSet::all_known();
        match self {
            Role::Admin => all,
            Role::User => ScopeSet::from_tokens(all.iter().filter(|s| *s != ADMIN_SCOPE)),
        }
    }

    /// Whether someone with this role may hold `scope` (any scope, known or
    /// defined by a resource, except `admin` for non-admins).
    pub fn permits(self, scope: &str) -> bool {
        self == Role::Admin || scope != ADMIN_SCOPE
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Role::Admin),
            "user" => Some(Role::User),
            _ => None,
        }
    }
}

/// An argon2id PHC string. Not secret in the way a token is, but still kept
/// out of `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(pub String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// A platform user.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Stable identifier; the token `sub`.
    pub id: UserId,
    /// Unique, normalized address.
    pub email: Email,
    /// Display name.
    pub name: String,
    /// Platform role.
    pub role: Role,
    /// Whether the address has been confirmed; accounts created by an admin
    /// are trusted as confirmed.
    pub email_verified: bool,
    /// argon2id hash of the password.
    pub password_hash: PasswordHash,
    /// Bumped whenever every earlier sign-in must end (a password change):
    /// platform tokens carry the epoch they were issued in, and one from an
    /// earlier epoch is refused, though its signature and expiry are fine.
    pub sign_in_epoch: u32,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// A user's role inside one organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgRole {
    /// Plain member: reads.
    Member,
    /// Manages members and settings.
    Admin,
    /// Manages everything, including deletion.
    Owner,
}

impl OrgRole {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrgRole::Owner => "owner",
            OrgRole::Admin => "admin",
            OrgRole::Member => "member",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(OrgRole::Owner),
            "admin" => Some(OrgRole::Admin),
            "member" => Some(OrgRole::Member),
            _ => None,
        }
    }
}

/// An organization.
#[derive(Debug, Clone, PartialEq)]
pub struct Organization {
    /// Identifier.
    pub id: OrgId,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// A user's membership in an organization.
#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    /// The organization.
    pub org_id: OrgId,
    /// The member.
    pub user_id: UserId,
    /// Their role there.
    pub role: OrgRole,
    /// When they joined.
    pub created_at: OffsetDateTime,
}

/// An invitation to join an organization, waiting for the invitee.
///
/// Membership lets org-mates read each other's profile (email included), so
/// nobody is made a member without agreeing: until they accept, the
/// invitation grants nothing and the inviter sees nothing of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Invitation {
    /// The organization.
    pub org_id: OrgId,
    /// The person invited.
    pub user_id: UserId,
    /// The role they will have once they accept.
    pub role: OrgRole,
    /// Who invited them, while that account exists.
    pub invited_by: Option<UserId>,
    /// When.
    pub created_at: OffsetDateTime,
}

/// A grant: one authorization of a client by a user, and the family of
/// refresh tokens it produced. Revoking it revokes every token it issued.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    /// Identifier; carried by access tokens as `grant_id`.
    pub id: GrantId,
    /// The client.
    pub client_id: ClientId,
    /// The user.
    pub user_id: UserId,
    /// What was granted; refreshes may narrow per request, never widen.
    pub scope: ScopeSet,
    /// The resource the grant's tokens are for (RFC 8707); `None` means the
    /// platform API.
    pub resource: Option<String>,
    /// When the user authorized.
    pub created_at: OffsetDateTime,
    /// Set once the family is revoked (logout, revocation, reuse detection).
    pub revoked_at: Option<OffsetDateTime>,
}

impl Grant {
    /// Whether tokens of this grant are still honoured.
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// An authorization code, as stored (the code itself only as a hash).
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizationCode {
    /// SHA-256 of the code.
    pub hash: TokenHash,
    /// The client it was issued to.
    pub client_id: ClientId,
    /// The user who approved it.
    pub user_id: UserId,
    /// The `redirect_uri` sent to `/authorize`, if one was sent; `/token` must
    /// repeat it exactly.
    pub redirect_uri: Option<String>,
    /// The granted scope.
    pub scope: ScopeSet,
    /// The PKCE challenge, if one was sent.
    pub challenge: Option<CodeChallenge>,
    /// The `resource` sent to `/authorize` (RFC 8707); `None` means the
    /// platform API.
    pub resource: Option<String>,
    /// The grant this code will create; known up front so a replay can
    /// revoke exactly what the first redemption issued.
    pub grant_id: GrantId,
    /// When it was issued.
    pub issued_at: OffsetDateTime,
    /// When it stops being redeemable (at most 60 s after issue).
    pub expires_at: OffsetDateTime,
}

/// A refresh token, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshToken {
    /// SHA-256 of the token.
    pub hash: TokenHash,
    /// Its family.
    pub grant_id: GrantId,
    /// When it was issued.
    pub issued_at: OffsetDateTime,
    /// When it expires.
    pub expires_at: OffsetDateTime,
    /// Set when it was exchanged for its successor; presenting it again
    /// afterwards is reuse (unless within the configured grace window).
    pub rotated_at: Option<OffsetDateTime>,
    /// Set when the one replay allowed inside the grace window was used
    /// (or, for a successor cut off by that replay, set so it gets none).
    pub grace_used: bool,
    /// The token this one was exchanged for, set at rotation: only a token
    /// whose successor is still current is the "just rotated" one a grace
    /// replay may use.
    pub replaced_by: Option<TokenHash>,
}

/// A signed-in browser session on the login page.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// SHA-256 of the cookie value.
    pub hash: TokenHash,
    /// Who signed in.
    pub user_id: UserId,
    /// When they signed in (OIDC `auth_time`, `max_age`).
    pub created_at: OffsetDateTime,
    /// When the session ends.
    pub expires_at: OffsetDateTime,
}

/// A user's remembered consent for a client.
#[derive(Debug, Clone, PartialEq)]
pub struct Consent {
    /// Who consented.
    pub user_id: UserId,
    /// To which client.
    pub client_id: ClientId,
    /// Everything consented to so far (the union of every approval).
    pub scope: ScopeSet,
    /// Last approval.
    pub granted_at: OffsetDateTime,
}

/// A signing key as stored: the private half encrypted under the master key.
#[derive(Clone, PartialEq)]
pub struct StoredKey {
    /// JWS `kid`.
    pub kid: String,
    /// AES-256-GCM(nonce ‖ ciphertext) of the PKCS#8 document.
    pub encrypted_private_key: Vec<u8>,
    /// Uncompressed P-256 public point (65 bytes), for JWKS.
    pub public_key: Vec<u8>,
    /// When it was generated.
    pub created_at: OffsetDateTime,
    /// When it stopped signing; it stays published until its last token
    /// expires.
    pub retired_at: Option<OffsetDateTime>,
}

impl fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(crate::testing::proptest_config())]

        /// Normalizing an email is idempotent, and a normalized address has
        /// nothing invisible in it and fits the bound.
        #[test]
        fn emails_normalize_to_a_fixed_point(
            raw in prop_oneof![
                any::<String>(),
                "[a-zA-Z0-9._%+\\-\u{ff01}-\u{ff5e}\u{200b}\u{200d}\u{202e} ]{1,20}[@\u{ff20}][a-zA-Z0-9.\\-\u{ff01}-\u{ff5e}]{1,20}",
            ],
        ) {
            if let Ok(e) = Email::parse(&raw) {
                prop_assert_eq!(Email::parse(e.as_str()), Ok(e.clone()));
                prop_assert!(e.as_str().len() <= Email::MAX_LEN);
                prop_assert!(!e.as_str().chars().any(|c| crate::text::is_deceptive(c) || c.is_whitespace()));
                prop_assert_eq!(e.as_str().matches('@').count(), 1);
            }
        }

        /// Names that pass validation pass again, unchanged.
        #[test]
        fn names_validate_to_a_fixed_point(raw in any::<String>()) {
            if let Ok(n) = validate_name(&raw) {
                prop_assert_eq!(validate_name(&n), Ok(n.clone()));
            }
        }
    }

    #[test]
    fn generated_client_ids_have_the_documented_shape() {
        let id = ClientId::generate();
        assert!(id.as_str().starts_with("oauth_"));
        assert_eq!(id.as_str().len(), 6 + 22);
        assert_ne!(id, ClientId::generate());
    }

    #[test]
    fn client_ids_refuse_blank_and_control_characters() {
        assert!(ClientId::parse("").is_err());
        assert!(ClientId::parse("a b").is_err());
        assert!(ClientId::parse(&"a".repeat(513)).is_err());
        assert!(ClientId::parse("https://app.example.com/client.json").is_ok());
    }

    #[test]
    fn emails_are_normalized() {
        assert_eq!(
            Email::parse("  Admin@Example.COM ").unwrap().as_str(),
            "admin@example.com"
        );
        assert!(Email::parse("no-at-sign").is_err());
        assert!(Email::parse("a@b@c").is_err());
        assert!(Email::parse("@b").is_err());
    }

    #[test]
    fn look_alike_emails_fold_to_one_address_or_are_refused() {
        // Full-width forms are the address they imitate.
        assert_eq!(
            Email::parse("ａｄｍｉｎ＠ｅｘａｍｐｌｅ．ｃｏｍ")
                .unwrap()
                .as_str(),
            "admin@example.com"
        );
        for bad in [
            "ad\u{200b}min@example.com",
            "admin@exam\u{200d}ple.com",
            "\u{202e}admin@example.com",
            "admin\u{feff}@example.com",
            "admin@example.com\u{00ad}",
            "ad min@example.com",
            "admin@example..com",
            "admin@-example.com",
            "admin@",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(Email::parse(&long_local).is_err());
        let long = format!("{}@{}.com", "a".repeat(60), "b".repeat(200));
        assert!(Email::parse(&long).is_err());
        assert!(Email::parse(&"x".repeat(30_000)).is_err());
        assert!(Email::parse("Ünïcödé@例え.jp").is_ok());
    }

    #[test]
    fn only_admins_may_hold_the_admin_scope() {
        assert!(Role::Admin.permitted_scopes().contains("admin"));
        assert!(!Role::User.permitted_scopes().contains("admin"));
        assert!(Role::User.permitted_scopes().contains("users:read"));
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(validate_name("  Ann ").unwrap(), "Ann");
        assert!(validate_name("").is_err());
        assert!(validate_name("a\u{7}b").is_err());
        assert!(validate_name("Goo\u{202e}elg").is_err());
        assert!(validate_name("Trusted\u{200b}App").is_err());
        assert!(validate_name("Файловый сервер").is_ok());
        assert!(validate_name(&"x".repeat(201)).is_err());
    }
}
