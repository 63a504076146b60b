//! Schemas for the OpenAPI document that no Rust type of the server
//! serializes: bodies the core builds as JSON values (token, introspection,
//! registration, userinfo, discovery), requests the OAuth handlers read by
//! hand (forms, registration metadata), the error bodies, and the closed sets
//! of strings the wire types carry as `&'static str`.
//!
//! Nothing here is constructed: these types exist for their `ToSchema`
//! impls. What keeps them honest is the API test that validates real
//! responses against them (`tests/api/openapi.rs`) and Schemathesis
//! (`tests/schemathesis/run.sh`).

use gatehouse_core::audit::AuditKind;
use gatehouse_core::scope::KNOWN_SCOPES;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::{Ref, RefOr, schema};
use utoipa::{PartialSchema, ToSchema};

/// RFC 6749 §5.2's error body, as the token, revocation, introspection and
/// registration endpoints send it (with `Cache-Control: no-store`).
#[derive(Debug, ToSchema)]
#[schema(as = OAuthError)]
pub struct OAuthErrorBody {
    /// The registered error code.
    pub error: OAuthErrorCode,
    /// For developers; never holds a secret.
    pub error_description: String,
}

/// The OAuth error codes the token-style endpoints send.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum OAuthErrorCode {
    /// RFC 6749 §5.2.
    InvalidRequest,
    /// RFC 6749 §5.2 (401).
    InvalidClient,
    /// RFC 6749 §5.2.
    InvalidGrant,
    /// RFC 6749 §5.2.
    UnauthorizedClient,
    /// RFC 6749 §5.2.
    UnsupportedGrantType,
    /// RFC 6749 §5.2.
    InvalidScope,
    /// Registration switched off (403).
    AccessDenied,
    /// The cause is logged, not disclosed (500).
    ServerError,
    /// RFC 6749 §4.1.2.1 (503).
    TemporarilyUnavailable,
    /// RFC 6750 §3.1: the registration endpoints' tokens (401).
    InvalidToken,
    /// RFC 7009 §2.2.1.
    UnsupportedTokenType,
    /// RFC 8707 §2.
    InvalidTarget,
    /// RFC 7591 §3.2.2.
    InvalidRedirectUri,
    /// RFC 7591 §3.2.2.
    InvalidClientMetadata,
}

/// The platform and admin API's error body (and `/userinfo`'s), always with
/// `Cache-Control: no-store`.
#[derive(Debug, ToSchema)]
#[schema(as = ApiError)]
pub struct ApiErrorBody {
    /// A stable machine-readable code.
    pub error: ApiErrorCode,
    /// For people; never holds a secret.
    pub error_description: String,
    /// With `insufficient_scope` only: the scopes that would do, any one of
    /// them enough.
    #[schema(required = false)]
    pub scope: String,
}

/// The platform API's error codes.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ApiErrorCode {
    /// 400: malformed JSON, query or field shape; a body over 64 KiB.
    InvalidRequest,
    /// 401: a missing, malformed, expired, revoked or foreign token.
    InvalidToken,
    /// 401: wrong email or password at `/api/v1/auth/login`.
    InvalidCredentials,
    /// 403: the token lacks every scope that would do.
    InsufficientScope,
    /// 403: scoped, but not allowed.
    Forbidden,
    /// 404: absent, or not visible to the caller.
    NotFound,
    /// 409: a duplicate.
    Conflict,
    /// 422: well-formed but invalid.
    ValidationFailed,
    /// 429: the sign-in throttle.
    TooManyRequests,
    /// 503: password checking is busy.
    TemporarilyUnavailable,
    /// 500: unexpected; logged, not disclosed.
    ServerError,
}

/// A platform role.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum PlatformRole {
    /// A platform administrator.
    Admin,
    /// Everyone else.
    User,
}

/// A role inside an organization.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum OrgRole {
    /// Manages everything, including deletion.
    Owner,
    /// Manages members and settings.
    Admin,
    /// Reads.
    Member,
}

/// How a client authenticates at the token endpoint (RFC 7591 §2).
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum TokenEndpointAuthMethod {
    /// A public client: no secret; PKCE.
    None,
    /// The secret in an HTTP Basic header.
    ClientSecretBasic,
    /// The secret in the form body.
    ClientSecretPost,
}

/// A grant type (RFC 7591 §2).
#[derive(Debug, ToSchema)]
pub enum GrantType {
    /// The authorization-code flow.
    #[schema(rename = "authorization_code")]
    AuthorizationCode,
    /// Refresh tokens.
    #[schema(rename = "refresh_token")]
    RefreshToken,
    /// A machine client acting for itself.
    #[schema(rename = "client_credentials")]
    ClientCredentials,
    /// RFC 8693 token exchange (admin-registered clients only).
    #[schema(rename = "urn:ietf:params:oauth:grant-type:token-exchange")]
    TokenExchange,
}

/// What kind of redirect URIs a client uses.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ApplicationType {
    /// A server-side or browser app.
    Web,
    /// A desktop, mobile or CLI app (loopback or custom-scheme redirects).
    Native,
}

/// How a client came to be known.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ClientOrigin {
    /// The admin API.
    Admin,
    /// Dynamic client registration (RFC 7591).
    Dynamic,
    /// A client ID metadata document.
    Metadata,
}

/// An audit event type (DESIGN §10); the list is the core's own.
#[derive(Debug)]
pub struct AuditType;

impl PartialSchema for AuditType {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(AuditKind::ALL.iter().map(|k| k.as_str())))
            .description(Some("An audit event type."))
            .into()
    }
}

impl ToSchema for AuditType {}

/// A platform scope, as the core lists them.
fn platform_scopes() -> impl Iterator<Item = &'static str> {
    KNOWN_SCOPES.iter().map(|(s, _)| *s)
}

// ---- Token, revocation, introspection (form bodies) ----

/// A token request (RFC 6749 §4, RFC 8693), form-encoded. Which parameters
/// apply depends on `grant_type`; a parameter sent twice is refused.
#[derive(Debug, ToSchema)]
pub struct TokenRequest {
    /// The grant.
    pub grant_type: GrantType,
    /// `authorization_code`: the code from the redirect.
    #[schema(required = false)]
    pub code: String,
    /// `authorization_code`: exactly as sent to `/authorize`, if it was.
    #[schema(required = false)]
    pub redirect_uri: String,
    /// `authorization_code`: the PKCE verifier (43–128 unreserved characters).
    #[schema(required = false)]
    pub code_verifier: String,
    /// `refresh_token`: the refresh token.
    #[schema(required = false)]
    pub refresh_token: String,
    /// Space-separated scopes.
    #[schema(required = false)]
    pub scope: String,
    /// RFC 8707: the audience of the token.
    #[schema(required = false)]
    pub resource: String,
    /// RFC 8693: the target, as `resource`.
    #[schema(required = false)]
    pub audience: String,
    /// RFC 8693: the user's access token.
    #[schema(required = false)]
    pub subject_token: String,
    /// RFC 8693: `urn:ietf:params:oauth:token-type:access_token`.
    #[schema(required = false)]
    pub subject_token_type: String,
    /// RFC 8693: only the access-token type.
    #[schema(required = false)]
    pub requested_token_type: String,
    /// The client, for `client_secret_post` and public clients.
    #[schema(required = false)]
    pub client_id: String,
    /// `client_secret_post`: the secret (not together with Basic).
    #[schema(required = false)]
    pub client_secret: String,
}

/// A successful token response (RFC 6749 §5.1), with `Cache-Control:
/// no-store`.
#[derive(Debug, ToSchema)]
pub struct TokenResponse {
    /// An ES256 JWT (RFC 9068).
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(pattern = "^Bearer$")]
    pub token_type: String,
    /// Lifetime in seconds.
    pub expires_in: i64,
    /// A new refresh token, when the client is registered for the
    /// `refresh_token` grant.
    #[schema(required = false)]
    pub refresh_token: String,
    /// The granted scopes, space-separated, alphabetical.
    pub scope: String,
    /// Token exchange only.
    #[schema(required = false)]
    pub issued_token_type: String,
    /// OpenID Connect: an ES256 ID token, when the code was issued for
    /// scope `openid`.
    #[schema(required = false)]
    pub id_token: String,
}

/// A revocation request (RFC 7009), form-encoded.
#[derive(Debug, ToSchema)]
pub struct RevocationRequest {
    /// The access or refresh token.
    #[schema(min_length = 1)]
    pub token: String,
    /// Orders the look-ups.
    #[schema(required = false)]
    pub token_type_hint: TokenTypeHint,
    /// The client, for `client_secret_post` and public clients.
    #[schema(required = false)]
    pub client_id: String,
    /// `client_secret_post`: the secret.
    #[schema(required = false)]
    pub client_secret: String,
}

/// RFC 7009's token type hints.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum TokenTypeHint {
    /// An access token.
    AccessToken,
    /// A refresh token.
    RefreshToken,
}

/// An introspection request (RFC 7662), form-encoded.
#[derive(Debug, ToSchema)]
pub struct IntrospectionRequest {
    /// The token.
    #[schema(min_length = 1)]
    pub token: String,
    /// `refresh_token` looks the token up as a refresh token only; any
    /// other value is ignored.
    #[schema(required = false)]
    pub token_type_hint: String,
    /// The client, for `client_secret_post`.
    #[schema(required = false)]
    pub client_id: String,
    /// `client_secret_post`: the secret.
    #[schema(required = false)]
    pub client_secret: String,
}

/// An introspection answer (RFC 7662 §2.2). An inactive token answers
/// exactly `{"active": false}`.
#[derive(Debug, ToSchema)]
pub struct IntrospectionResponse {
    /// Whether the token is active.
    pub active: bool,
    /// Space-separated scopes.
    #[schema(required = false)]
    pub scope: String,
    /// The client the token was issued to.
    #[schema(required = false)]
    pub client_id: String,
    /// The user (or, for `client_credentials`, the client).
    #[schema(required = false)]
    pub sub: String,
    /// The audience.
    #[schema(required = false)]
    pub aud: String,
    /// Expiry, seconds since the epoch.
    #[schema(required = false)]
    pub exp: i64,
    /// Issue time, seconds since the epoch.
    #[schema(required = false)]
    pub iat: i64,
    /// The issuer.
    #[schema(required = false)]
    pub iss: String,
    /// Access tokens only.
    #[schema(required = false)]
    pub jti: String,
    /// `Bearer` or `refresh_token`.
    #[schema(required = false)]
    pub token_type: String,
    /// Exchanged tokens only: the acting client, with any earlier actor
    /// nested (RFC 8693 §4.1).
    #[schema(required = false, value_type = Object)]
    pub act: serde_json::Value,
}

// ---- Dynamic client registration (RFC 7591, RFC 7592) ----

/// Client metadata for registration (RFC 7591 §2). Unknown members are
/// ignored; `null` counts as absent.
#[derive(Debug, ToSchema)]
pub struct RegistrationRequest {
    /// Required with the `authorization_code` grant: 1–20 URIs.
    #[schema(required = false)]
    pub redirect_uris: Vec<String>,
    /// Default `client_secret_basic`.
    #[schema(required = false)]
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// Default `["authorization_code"]`; token exchange is refused.
    #[schema(required = false)]
    pub grant_types: Vec<GrantType>,
    /// `["code"]` with the code grant, else empty.
    #[schema(required = false)]
    pub response_types: Vec<String>,
    /// Inferred from the redirect URIs when absent.
    #[schema(required = false)]
    pub application_type: ApplicationType,
    /// Space-separated; not a ceiling; `admin` is refused.
    #[schema(required = false)]
    pub scope: String,
    /// 1–200 printable characters.
    #[schema(required = false)]
    pub client_name: String,
    /// At most 2000 characters.
    #[schema(required = false)]
    pub client_uri: String,
    /// At most 2000 characters.
    #[schema(required = false)]
    pub logo_uri: String,
    /// At most 2000 characters.
    #[schema(required = false)]
    pub tos_uri: String,
    /// At most 2000 characters.
    #[schema(required = false)]
    pub policy_uri: String,
    /// At most 2000 characters.
    #[schema(required = false)]
    pub software_id: String,
    /// At most 2000 characters.
    #[schema(required = false)]
    pub software_version: String,
    /// Stored and echoed.
    #[schema(required = false)]
    pub contacts: Vec<String>,
}

/// RFC 7592 §2.2: the full metadata again, naming the client: a
/// [`RegistrationRequest`] with `client_id` (and, if sent, the current
/// `client_secret`).
#[derive(Debug)]
pub struct RegistrationUpdate;

impl PartialSchema for RegistrationUpdate {
    fn schema() -> RefOr<Schema> {
        let string = || ObjectBuilder::new().schema_type(Type::String);
        AllOfBuilder::new()
            .item(Ref::from_schema_name(RegistrationRequest::name()))
            .item(
                ObjectBuilder::new()
                    .property(
                        "client_id",
                        string().description(Some("Must equal the path's `client_id`.")),
                    )
                    .required("client_id")
                    .property(
                        "client_secret",
                        string().description(Some("If sent, the current secret.")),
                    ),
            )
            .description(Some(
                "The full metadata again, validated as at registration, naming the client.",
            ))
            .into()
    }
}

impl ToSchema for RegistrationUpdate {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            RegistrationRequest::name().into_owned(),
            RegistrationRequest::schema(),
        ));
        <RegistrationRequest as ToSchema>::schemas(schemas);
    }
}

/// The registration document (RFC 7591 §3.2.1, RFC 7592 §3): every
/// registered member with a value, none `null`, plus whatever optional
/// metadata was registered.
#[derive(Debug, ToSchema)]
pub struct RegistrationResponse {
    /// `oauth_` plus 22 base64url characters.
    pub client_id: String,
    /// Seconds since the epoch.
    pub client_id_issued_at: i64,
    /// Shown once, at registration, to confidential clients.
    #[schema(required = false)]
    pub client_secret: String,
    /// `0` (never) for confidential clients; absent for public ones.
    #[schema(required = false)]
    pub client_secret_expires_at: i64,
    /// The name shown on the consent page.
    pub client_name: String,
    /// The registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// How the client authenticates.
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// The registered grants.
    pub grant_types: Vec<GrantType>,
    /// `["code"]` with the code grant, else empty.
    pub response_types: Vec<String>,
    /// `web` or `native`.
    pub application_type: ApplicationType,
    /// The registered scope, if one was.
    #[schema(required = false)]
    pub scope: String,
    /// `gtreg_…`: shown once, at registration.
    #[schema(required = false)]
    pub registration_access_token: String,
    /// Where RFC 7592 manages this client.
    pub registration_client_uri: String,
}

// ---- Userinfo and discovery ----

/// `/userinfo`: `sub` always, other claims by the token's scope.
#[derive(Debug, ToSchema)]
pub struct UserinfoResponse {
    /// The user's UUID.
    pub sub: String,
    /// Scope `email`.
    #[schema(required = false)]
    pub email: String,
    /// Scope `email`.
    #[schema(required = false)]
    pub email_verified: bool,
    /// Scope `profile`.
    #[schema(required = false)]
    pub name: String,
    /// Scope `profile`.
    #[schema(required = false)]
    pub role: PlatformRole,
    /// Scope `profile`: seconds since the epoch.
    #[schema(required = false)]
    pub updated_at: i64,
    /// Scope `organizations` or `organizations:read`.
    #[schema(required = false)]
    pub organizations: Vec<UserinfoOrganization>,
}

/// An organization in `/userinfo`.
#[derive(Debug, ToSchema)]
pub struct UserinfoOrganization {
    /// Its UUID.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The user's role there.
    pub role: OrgRole,
}

/// RFC 8414 authorization-server metadata. Lists only what works.
#[derive(Debug, ToSchema)]
pub struct AuthorizationServerMetadata {
    /// `{base}/api/v1/oauth`.
    pub issuer: String,
    /// The authorization endpoint.
    pub authorization_endpoint: String,
    /// The token endpoint.
    pub token_endpoint: String,
    /// The userinfo endpoint.
    pub userinfo_endpoint: String,
    /// RFC 7009.
    pub revocation_endpoint: String,
    /// RFC 7662.
    pub introspection_endpoint: String,
    /// The signing keys.
    pub jwks_uri: String,
    /// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).
    pub end_session_endpoint: String,
    /// Absent under `GATEHOUSE_REGISTRATION=off`.
    #[schema(required = false)]
    pub registration_endpoint: String,
    /// The platform's scopes, then every registered resource's.
    pub scopes_supported: Vec<String>,
    /// `["code"]`.
    pub response_types_supported: Vec<String>,
    /// `["query"]`.
    pub response_modes_supported: Vec<String>,
    /// The supported grants.
    pub grant_types_supported: Vec<GrantType>,
    /// `["S256"]`.
    pub code_challenge_methods_supported: Vec<String>,
    /// Token endpoint client authentication.
    pub token_endpoint_auth_methods_supported: Vec<TokenEndpointAuthMethod>,
    /// Revocation endpoint client authentication.
    pub revocation_endpoint_auth_methods_supported: Vec<TokenEndpointAuthMethod>,
    /// Introspection endpoint client authentication.
    pub introspection_endpoint_auth_methods_supported: Vec<TokenEndpointAuthMethod>,
    /// RFC 9207: `true`.
    pub authorization_response_iss_parameter_supported: bool,
    /// `none`, `login`, `consent`.
    pub prompt_values_supported: Vec<String>,
    /// Present (`true`) when client ID metadata documents are accepted.
    #[schema(required = false)]
    pub client_id_metadata_document_supported: bool,
    /// OpenID Connect only: `["public"]`.
    #[schema(required = false)]
    pub subject_types_supported: Vec<String>,
    /// OpenID Connect only: `["ES256"]`.
    #[schema(required = false)]
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// OpenID Connect only: the claims of ID tokens and userinfo.
    #[schema(required = false)]
    pub claims_supported: Vec<String>,
    /// OpenID Connect only: `["normal"]`.
    #[schema(required = false)]
    pub claim_types_supported: Vec<String>,
    /// OpenID Connect only: `false`.
    #[schema(required = false)]
    pub claims_parameter_supported: bool,
    /// OpenID Connect only: `false`.
    #[schema(required = false)]
    pub request_parameter_supported: bool,
    /// OpenID Connect only: `false`.
    #[schema(required = false)]
    pub request_uri_parameter_supported: bool,
}

/// RFC 9728 protected-resource metadata for the platform API.
#[derive(Debug, ToSchema)]
pub struct ProtectedResourceMetadata {
    /// `{base}/api/v1`.
    pub resource: String,
    /// The issuer.
    pub authorization_servers: Vec<String>,
    /// The platform's scopes but `offline_access`.
    #[schema(schema_with = platform_scope_list)]
    pub scopes_supported: Vec<String>,
    /// `["header"]`.
    pub bearer_methods_supported: Vec<String>,
    /// `Gatehouse platform API`.
    pub resource_name: String,
}

/// An array of platform scopes, as the core lists them.
fn platform_scope_list() -> schema::Array {
    schema::ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(platform_scopes())),
        )
        .build()
}

/// A JWK Set (RFC 7517 §5): the public signing keys, newest first.
#[derive(Debug, ToSchema)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// A public ES256 key (RFC 7518 §6.2). Never the private part `d`.
#[derive(Debug, ToSchema)]
pub struct Jwk {
    /// `EC`.
    pub kty: String,
    /// `P-256`.
    pub crv: String,
    /// base64url x coordinate.
    pub x: String,
    /// base64url y coordinate.
    pub y: String,
    /// The key id, as in tokens' `kid`.
    pub kid: String,
    /// `ES256`.
    pub alg: String,
    /// `sig`.
    #[schema(rename = "use")]
    pub use_: String,
}

/// `/healthz` and `/readyz`.
#[derive(Debug, ToSchema)]
pub struct Health {
    /// `ok` (`/healthz`), `ready` or `unavailable` (`/readyz`).
    pub status: HealthStatus,
}

/// A health answer.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum HealthStatus {
    /// The process serves requests.
    Ok,
    /// The store answers.
    Ready,
    /// The store does not answer (503).
    Unavailable,
}
