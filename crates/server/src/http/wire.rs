//! The platform and admin API's response bodies, as types.
//!
//! One module says what goes on the wire, so two handlers cannot render a
//! user two ways, a field cannot go missing from one route only, and the
//! OpenAPI document can be derived from these types. Snapshot tests below
//! pin every shape: a change to one shows up as a diff to review.

use gatehouse_core::audit::AuditEvent;
use gatehouse_core::model::{
    Client, Invitation, Membership, OrgRole, Organization, Resource, User,
};
use gatehouse_core::scope::ScopeSet;
use gatehouse_core::service::AuditPage;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use super::schemas::{
    ApplicationType, AuditType, ClientOrigin, GrantType, OrgRole as OrgRoleName, PlatformRole,
    TokenEndpointAuthMethod,
};

/// RFC 3339, as every timestamp in the API is written.
pub(super) fn ts(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// A user (`GET /api/v1/users/{id}` and everywhere a user appears).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserBody {
    #[schema(format = Uuid)]
    id: String,
    email: String,
    name: String,
    #[schema(value_type = PlatformRole)]
    role: &'static str,
    email_verified: bool,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

impl From<&User> for UserBody {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.to_string(),
            email: u.email.as_str().to_owned(),
            name: u.name.clone(),
            role: u.role.as_str(),
            email_verified: u.email_verified,
            created_at: ts(u.created_at),
            updated_at: ts(u.updated_at),
        }
    }
}

/// `{"user": …}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OneUser {
    /// The user.
    pub user: UserBody,
}

/// `{"users": […]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Users {
    /// The users.
    pub users: Vec<UserBody>,
}

impl Users {
    /// The listing of `users`.
    pub fn of<'a>(users: impl IntoIterator<Item = &'a User>) -> Self {
        Self {
            users: users.into_iter().map(UserBody::from).collect(),
        }
    }
}

/// The user in a sign-in answer: what a client needs to greet them.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignedInUser {
    #[schema(format = Uuid)]
    id: String,
    email: String,
    name: String,
    #[schema(value_type = PlatformRole)]
    role: &'static str,
}

/// `POST /api/v1/auth/login`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginBody {
    access_token: String,
    #[schema(value_type = String, pattern = "^Bearer$")]
    token_type: &'static str,
    expires_in: i64,
    user: SignedInUser,
}

impl LoginBody {
    /// The answer carrying `access_token` for `user`.
    pub fn new(access_token: String, expires_in: i64, user: &User) -> Self {
        Self {
            access_token,
            token_type: "Bearer",
            expires_in,
            user: SignedInUser {
                id: user.id.to_string(),
                email: user.email.as_str().to_owned(),
                name: user.name.clone(),
                role: user.role.as_str(),
            },
        }
    }
}

/// An organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgBody {
    #[schema(format = Uuid)]
    id: String,
    name: String,
    description: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

impl From<&Organization> for OrgBody {
    fn from(o: &Organization) -> Self {
        Self {
            id: o.id.to_string(),
            name: o.name.clone(),
            description: o.description.clone(),
            created_at: ts(o.created_at),
            updated_at: ts(o.updated_at),
        }
    }
}

/// `{"organization": …, "role": …}`: an organization with the caller's
/// role in it (`null` for a platform admin who is not a member).
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgWithRole {
    organization: OrgBody,
    #[schema(value_type = Option<OrgRoleName>, required = true)]
    role: Option<&'static str>,
}

impl OrgWithRole {
    /// `org` as seen by someone with `role` there.
    pub fn new(org: &Organization, role: Option<OrgRole>) -> Self {
        Self {
            organization: OrgBody::from(org),
            role: role.map(OrgRole::as_str),
        }
    }
}

/// `{"organizations": […]}`: the caller's organizations.
#[derive(Debug, Serialize, ToSchema)]
pub struct Orgs {
    /// Each with the caller's role.
    pub organizations: Vec<OrgWithRole>,
}

/// A member with their record.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberBody {
    user: UserBody,
    #[schema(value_type = OrgRoleName)]
    role: &'static str,
    #[schema(format = DateTime)]
    joined_at: String,
}

/// `{"members": […]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Members {
    members: Vec<MemberBody>,
}

impl Members {
    /// The listing of `members`.
    pub fn of(members: &[(Membership, User)]) -> Self {
        Self {
            members: members
                .iter()
                .map(|(m, u)| MemberBody {
                    user: UserBody::from(u),
                    role: m.role.as_str(),
                    joined_at: ts(m.created_at),
                })
                .collect(),
        }
    }
}

/// A membership as added or changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipBody {
    #[schema(format = Uuid)]
    user_id: String,
    #[schema(format = Uuid)]
    organization_id: String,
    #[schema(value_type = OrgRoleName)]
    role: &'static str,
}

/// `{"member": …}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OneMember {
    member: MembershipBody,
}

impl From<&Membership> for OneMember {
    fn from(m: &Membership) -> Self {
        Self {
            member: MembershipBody {
                user_id: m.user_id.to_string(),
                organization_id: m.org_id.to_string(),
                role: m.role.as_str(),
            },
        }
    }
}

/// A pending invitation: the invitee by id only.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationBody {
    #[schema(format = Uuid)]
    organization_id: String,
    #[schema(format = Uuid)]
    user_id: String,
    #[schema(value_type = OrgRoleName)]
    role: &'static str,
    #[schema(required = true, format = Uuid)]
    invited_by: Option<String>,
    #[schema(format = DateTime)]
    invited_at: String,
    /// Always `pending`: an answered invitation is gone.
    #[schema(value_type = String, pattern = "^pending$")]
    status: &'static str,
    /// For the invitee's own listing: which organization it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    organization: Option<OrgRef>,
}

/// An organization named in an invitation.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgRef {
    #[schema(format = Uuid)]
    id: String,
    name: String,
}

impl From<&Invitation> for InvitationBody {
    fn from(i: &Invitation) -> Self {
        Self {
            organization_id: i.org_id.to_string(),
            user_id: i.user_id.to_string(),
            role: i.role.as_str(),
            invited_by: i.invited_by.map(|u| u.to_string()),
            invited_at: ts(i.created_at),
            status: "pending",
            organization: None,
        }
    }
}

impl InvitationBody {
    /// The invitation as its invitee sees it, naming the organization.
    pub fn for_invitee(i: &Invitation, org: &Organization) -> Self {
        Self {
            organization: Some(OrgRef {
                id: org.id.to_string(),
                name: org.name.clone(),
            }),
            ..Self::from(i)
        }
    }
}

/// `{"invitation": …}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OneInvitation {
    /// The invitation.
    pub invitation: InvitationBody,
}

/// `{"invitations": […]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Invitations {
    /// The invitations.
    pub invitations: Vec<InvitationBody>,
}

/// An OAuth client in the admin registry. Never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientBody {
    client_id: String,
    name: String,
    description: String,
    redirect_uris: Vec<String>,
    /// Alphabetical.
    #[schema(value_type = Vec<String>)]
    allowed_scopes: ScopeSet,
    is_confidential: bool,
    require_pkce: bool,
    #[schema(value_type = TokenEndpointAuthMethod)]
    token_endpoint_auth_method: &'static str,
    #[schema(value_type = Vec<GrantType>)]
    grant_types: Vec<&'static str>,
    #[schema(value_type = ApplicationType)]
    application_type: &'static str,
    #[schema(value_type = ClientOrigin)]
    origin: &'static str,
    /// The protected resource this client serves, if any.
    #[schema(required = true)]
    resource: Option<String>,
    exchange_targets: Vec<String>,
    /// What its authorization requests get when they name no resource.
    #[schema(required = true)]
    default_resource: Option<String>,
    /// Where RP-initiated logout may send the browser afterwards.
    post_logout_redirect_uris: Vec<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    /// When it last got or used a token, to about a minute; `null` if
    /// never.
    #[schema(format = DateTime, required = true)]
    last_used_at: Option<String>,
}

impl From<&Client> for ClientBody {
    fn from(c: &Client) -> Self {
        Self {
            client_id: c.id.as_str().to_owned(),
            name: c.name.clone(),
            description: c.description.clone(),
            redirect_uris: c
                .redirect_uris
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
            allowed_scopes: c.allowed_scopes.clone(),
            is_confidential: c.is_confidential(),
            require_pkce: c.require_pkce,
            token_endpoint_auth_method: c.auth_method.as_str(),
            grant_types: c.grant_types.iter().map(|g| g.as_str()).collect(),
            application_type: c.application_type.as_str(),
            origin: c.origin.as_str(),
            resource: c.served_resource(),
            exchange_targets: c
                .exchange_targets()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            default_resource: c.default_resource().map(str::to_owned),
            post_logout_redirect_uris: c
                .post_logout_redirect_uris()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            created_at: ts(c.created_at),
            updated_at: ts(c.updated_at),
            last_used_at: c.last_used_at.map(ts),
        }
    }
}

/// `{"client": …}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OneClient {
    /// The client.
    pub client: ClientBody,
}

/// `{"clients": […]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Clients {
    /// The clients.
    pub clients: Vec<ClientBody>,
}

/// A client with its new secret, the one time it is shown.
#[derive(Serialize, ToSchema)]
pub struct ClientWithSecret {
    #[serde(flatten)]
    client: ClientBody,
    /// `null` for a public client.
    #[schema(required = true)]
    client_secret: Option<String>,
}

impl std::fmt::Debug for ClientWithSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientWithSecret")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

/// The answer to creating a client or rotating its secret: the seed's
/// shape, `{"success": true, "client": …, "warning": …}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientIssued {
    /// Always `true`.
    success: bool,
    client: ClientWithSecret,
    /// With a secret only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, nullable = false)]
    warning: Option<&'static str>,
}

impl ClientWithSecret {
    /// `client` with `secret`, shown this once.
    pub fn new(client: &Client, secret: Option<&str>) -> Self {
        Self {
            client: ClientBody::from(client),
            client_secret: secret.map(str::to_owned),
        }
    }
}

impl ClientIssued {
    /// `client` with `secret` (shown once), warning that it will not be
    /// shown again when there is one.
    pub fn new(client: &Client, secret: Option<&str>) -> Self {
        Self {
            success: true,
            warning: secret
                .is_some()
                .then_some("Store client_secret securely. It will not be shown again."),
            client: ClientWithSecret::new(client, secret),
        }
    }
}

/// A protected resource.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceBody {
    #[schema(format = Uuid)]
    id: String,
    /// The canonical URI: a token's `aud`.
    resource: String,
    name: String,
    /// Sorted.
    #[schema(value_type = Vec<String>)]
    scopes: ScopeSet,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

impl From<&Resource> for ResourceBody {
    fn from(r: &Resource) -> Self {
        Self {
            id: r.id.to_string(),
            resource: r.uri.clone(),
            name: r.name.clone(),
            scopes: r.scopes.clone(),
            created_at: ts(r.created_at),
            updated_at: ts(r.updated_at),
        }
    }
}

/// `{"resource": …}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OneResource {
    /// The resource.
    pub resource: ResourceBody,
}

/// `{"resources": […]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Resources {
    /// The resources.
    pub resources: Vec<ResourceBody>,
}

/// One audit event (DESIGN §10).
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventBody {
    #[schema(format = Uuid)]
    id: String,
    #[schema(format = DateTime)]
    at: String,
    #[serde(rename = "type")]
    #[schema(value_type = AuditType)]
    kind: &'static str,
    #[schema(required = true, format = Uuid)]
    user_id: Option<String>,
    #[schema(required = true)]
    client_id: Option<String>,
    #[schema(required = true)]
    ip: Option<String>,
    #[schema(value_type = Object)]
    details: serde_json::Value,
}

impl From<&AuditEvent> for AuditEventBody {
    fn from(e: &AuditEvent) -> Self {
        Self {
            id: e.id.to_string(),
            at: ts(e.at),
            kind: e.kind.as_str(),
            user_id: e.user_id.map(|u| u.to_string()),
            client_id: e.client_id.as_ref().map(|c| c.as_str().to_owned()),
            ip: e.ip.map(|ip| ip.to_string()),
            details: e.details.clone(),
        }
    }
}

/// `{"events": […], "next": cursor-or-null}`, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEvents {
    /// The page.
    pub events: Vec<AuditEventBody>,
    /// Pass as `before` for the next (older) page; `null` on the last.
    #[schema(required = true)]
    pub next: Option<String>,
}

impl From<&AuditPage> for AuditEvents {
    fn from(page: &AuditPage) -> Self {
        Self {
            events: page.events.iter().map(AuditEventBody::from).collect(),
            next: page.next.map(|c| c.encode()),
        }
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_core::model::{
        ApplicationType, ClientId, ClientOrigin, Email, GrantType, OrgId, PasswordHash, ResourceId,
        Role, TokenEndpointAuthMethod, UserId,
    };
    use gatehouse_core::redirect::RedirectUri;
    use uuid::Uuid;

    use super::*;

    fn at() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap()
    }

    fn user() -> User {
        User {
            id: UserId(Uuid::from_u128(1)),
            email: Email::parse("ann@example.com").unwrap(),
            name: "Ann".into(),
            role: Role::User,
            email_verified: true,
            password_hash: PasswordHash("$argon2id$…".into()),
            sign_in_epoch: 2,
            created_at: at(),
            updated_at: at(),
        }
    }

    fn org() -> Organization {
        Organization {
            id: OrgId(Uuid::from_u128(2)),
            name: "Acme".into(),
            description: "Makes everything".into(),
            created_at: at(),
            updated_at: at(),
        }
    }

    fn client() -> Client {
        Client {
            id: ClientId::parse("oauth_abcdefghijklmnopqrstuv").unwrap(),
            secret_hash: None,
            name: "MCP File Server".into(),
            description: "Files".into(),
            redirect_uris: vec![
                RedirectUri::parse("http://localhost:8000/oauth/callback").unwrap(),
            ],
            allowed_scopes: ScopeSet::parse("profile email mcp:connect").unwrap(),
            auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            application_type: ApplicationType::Web,
            origin: ClientOrigin::Admin,
            require_pkce: true,
            registration_token_hash: None,
            metadata: serde_json::json!({"resource": "https://files.example/mcp",
                                         "exchange_targets": ["https://api.example/api/v1"]}),
            metadata_expires_at: None,
            created_at: at(),
            updated_at: at(),
            last_used_at: Some(at()),
            registration_key: None,
        }
    }

    #[test]
    fn users() {
        insta::assert_json_snapshot!(
            "one_user",
            OneUser {
                user: UserBody::from(&user())
            }
        );
        insta::assert_json_snapshot!("users", Users::of([&user()]));
        insta::assert_json_snapshot!("login", LoginBody::new("eyJ…".into(), 3600, &user()));
    }

    #[test]
    fn organizations_members_and_invitations() {
        insta::assert_json_snapshot!(
            "org_with_role",
            OrgWithRole::new(&org(), Some(OrgRole::Owner))
        );
        insta::assert_json_snapshot!(
            "orgs",
            Orgs {
                organizations: vec![OrgWithRole::new(&org(), None)]
            }
        );
        let m = Membership {
            org_id: org().id,
            user_id: user().id,
            role: OrgRole::Admin,
            created_at: at(),
        };
        insta::assert_json_snapshot!("members", Members::of(&[(m.clone(), user())]));
        insta::assert_json_snapshot!("member_added", OneMember::from(&m));
        let i = Invitation {
            org_id: org().id,
            user_id: user().id,
            role: OrgRole::Member,
            invited_by: Some(UserId(Uuid::from_u128(3))),
            created_at: at(),
        };
        insta::assert_json_snapshot!(
            "invitation",
            OneInvitation {
                invitation: InvitationBody::from(&i)
            }
        );
        insta::assert_json_snapshot!(
            "invitee_invitations",
            Invitations {
                invitations: vec![InvitationBody::for_invitee(&i, &org())]
            }
        );
    }

    #[test]
    fn clients_and_resources() {
        insta::assert_json_snapshot!(
            "one_client",
            OneClient {
                client: ClientBody::from(&client())
            }
        );
        insta::assert_json_snapshot!(
            "client_created_confidential",
            ClientIssued::new(&client(), Some("secret_shown_once"))
        );
        let public = Client {
            auth_method: TokenEndpointAuthMethod::None,
            metadata: serde_json::json!({}),
            ..client()
        };
        insta::assert_json_snapshot!("client_created_public", ClientIssued::new(&public, None));
        let r = Resource {
            id: ResourceId(Uuid::from_u128(4)),
            uri: "https://files.example/mcp".into(),
            name: "Files".into(),
            scopes: ScopeSet::parse("files:read files:write").unwrap(),
            created_at: at(),
            updated_at: at(),
        };
        insta::assert_json_snapshot!(
            "one_resource",
            OneResource {
                resource: ResourceBody::from(&r)
            }
        );
    }

    #[test]
    fn audit() {
        use gatehouse_core::audit::{AuditCursor, AuditKind};
        let mut e = AuditEvent::new(AuditKind::ConsentGranted, at())
            .user(UserId(Uuid::from_u128(1)))
            .client(&ClientId::parse("oauth_abcdefghijklmnopqrstuv").unwrap())
            .ip(Some("203.0.113.7".parse().unwrap()))
            .detail("scope", "profile email")
            .detail("resource", "https://files.example/mcp");
        e.id = Uuid::from_u128(9);
        let mut bare = AuditEvent::new(AuditKind::KeyRotated, at());
        bare.id = Uuid::from_u128(10);
        let page = AuditPage {
            events: vec![e.clone(), bare],
            next: Some(AuditCursor {
                at: at(),
                id: Uuid::from_u128(10),
            }),
        };
        insta::assert_json_snapshot!("audit_events", AuditEvents::from(&page));
    }

    #[test]
    fn a_secret_never_prints() {
        let issued = ClientIssued::new(&client(), Some("secret_shown_once"));
        assert!(!format!("{issued:?}").contains("secret_shown_once"));
    }
}
