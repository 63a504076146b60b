//! Upstream identity providers ("Sign in with …") and the identities users
//! have linked from them (issue 14, item 2; DESIGN §12).

use time::OffsetDateTime;

use super::{IdpId, InvalidValue, UserId};

/// How Gatehouse talks to an upstream provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdpKind {
    /// Any OpenID Connect provider: discovery, code + PKCE, nonce, and an
    /// ID token checked against the provider's JWKS.
    Oidc,
    /// GitHub (or GitHub Enterprise): plain OAuth 2, then its user and
    /// emails API, since GitHub issues no ID token.
    Github,
}

impl IdpKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::Github => "github",
        }
    }

    /// The kind named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "oidc" => Some(Self::Oidc),
            "github" => Some(Self::Github),
            _ => None,
        }
    }
}

/// The issuer of every github.com identity, when a GitHub provider names
/// none: github.com has no OpenID issuer, and linked identities need one.
pub const GITHUB_ISSUER: &str = "https://github.com";

/// An upstream provider an admin configured.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityProvider {
    /// Stable identifier (the admin API's `{id}`).
    pub id: IdpId,
    /// The URL-safe name in the callback path
    /// `/api/v1/oauth/idp/{name}/callback`; unique.
    pub name: IdpName,
    /// What the "Sign in with …" button says.
    pub display_name: String,
    /// The protocol.
    pub kind: IdpKind,
    /// The upstream's issuer: the OpenID issuer identifier for `oidc`, the
    /// web base (`https://github.com` or an Enterprise host) for `github`.
    /// Linked identities are keyed by it, so it never changes after
    /// creation.
    pub issuer: String,
    /// Gatehouse's client id at the upstream.
    pub client_id: String,
    /// Gatehouse's client secret at the upstream, sealed with the master
    /// key (it must be sent back upstream, so it cannot be hashed).
    pub sealed_secret: Vec<u8>,
    /// The scopes asked for upstream.
    pub scopes: Vec<String>,
    /// Whether someone the upstream vouches for but who has no account yet
    /// gets one (just-in-time).
    pub create_users: bool,
    /// Whether an upstream identity with a verified email may be linked to
    /// the existing account with that email on first sign-in.
    pub link_by_verified_email: bool,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// A provider's name: 1–32 of `a-z`, `0-9` and `-`, starting with a letter,
/// so it can stand in a URL path and a button's id unescaped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdpName(String);

impl IdpName {
    /// Checks a name.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let ok = (1..=32).contains(&raw.len())
            && raw.as_bytes()[0].is_ascii_lowercase()
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidValue(
                "name must be 1-32 characters of a-z, 0-9 and '-', starting with a letter",
            ))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for IdpName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An upstream identity linked to a Gatehouse user. The upstream's
/// `(issuer, subject)` is the key: an email address can be reassigned
/// upstream, a subject cannot.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkedIdentity {
    /// The provider it came through; the link goes when the provider does.
    pub provider: IdpId,
    /// The upstream issuer (the provider's, at link time).
    pub issuer: String,
    /// The upstream `sub` (for GitHub, the numeric user id).
    pub subject: String,
    /// The Gatehouse account.
    pub user: UserId,
    /// The upstream's email when it was linked, to show the user which
    /// upstream account this is.
    pub email: Option<String>,
    /// When it was linked.
    pub created_at: OffsetDateTime,
    /// The last sign-in through it.
    pub last_used_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_path_safe() {
        for ok in ["google", "okta-eu", "a", "gh2"] {
            assert!(IdpName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Google",
            "2fa",
            "-x",
            "a/b",
            "a b",
            "é",
            &"a".repeat(33),
        ] {
            assert!(IdpName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn kinds_round_trip() {
        for k in [IdpKind::Oidc, IdpKind::Github] {
            assert_eq!(IdpKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(IdpKind::parse("saml"), None);
    }
}
