//! Scopes: the unit of consent and of access.
//!
//! A token's scope is always an intersection (requested ∩ client allowed ∩
//! role permitted), so the set type makes that operation, and the RFC 6749
//! §3.3 grammar, impossible to get wrong at the edges.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The platform's scopes with the sentence shown on the consent page.
///
/// Order matters: it is the order scopes are listed in metadata and on the
/// consent page.
pub const KNOWN_SCOPES: &[(&str, &str)] = &[
    ("openid", "Sign you in to the app with your account"),
    ("profile", "See your name and profile"),
    ("email", "See your email address"),
    ("organizations", "See the organizations you belong to"),
    ("users:read", "See the members of your organizations"),
    ("users:write", "Create and change user accounts"),
    (
        "organizations:read",
        "See your organizations and their members",
    ),
    (
        "organizations:write",
        "Create, change and delete organizations and their members",
    ),
    ("mcp:connect", "Connect MCP tools to your account"),
    ("admin", "Administer the whole platform"),
    ("offline_access", "Keep access after you close the app"),
];

/// The scope that asks for a refresh token (OIDC Core §11). Gatehouse issues
/// refresh tokens to every client registered for the `refresh_token` grant,
/// asked or not; this scope is accepted and echoed so clients that ask for it
/// see it granted.
pub const OFFLINE_ACCESS: &str = "offline_access";

/// The scope that makes an authorization request an OpenID Connect one
/// (OIDC Core §3.1.2.1): the token response then carries an `id_token`.
pub const OPENID: &str = "openid";

/// Whether `scope` asks something of the authorization server itself (a
/// refresh token, an ID token) rather than of the resource the access token
/// is for. Such scopes are granted whatever the audience, never count as a
/// resource's scopes, and are not given to tokens that have no user
/// (client credentials) or that are derived from another (token exchange).
pub fn is_protocol_scope(scope: &str) -> bool {
    scope == OFFLINE_ACCESS || scope == OPENID
}

/// The scope that only platform administrators may hold.
pub const ADMIN_SCOPE: &str = "admin";

/// The human sentence for a scope, or `None` for a scope the platform does not
/// define.
pub fn describe(scope: &str) -> Option<&'static str> {
    KNOWN_SCOPES
        .iter()
        .find(|(name, _)| *name == scope)
        .map(|(_, text)| *text)
}

/// Why a scope string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// A character outside RFC 6749 §3.3's `scope-token` grammar.
    #[error("scope contains a character that RFC 6749 does not allow")]
    InvalidCharacter,
    /// More scopes, or longer ones, than any real client sends.
    #[error("scope is too long")]
    TooLong,
}

/// The most scope tokens one request may carry; a bound on hostile input.
const MAX_SCOPES: usize = 64;
/// The longest scope string accepted.
const MAX_SCOPE_LEN: usize = 2048;

/// An ordered, duplicate-free set of scope tokens.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct ScopeSet(BTreeSet<String>);

impl ScopeSet {
    /// The empty set.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Parses a space-delimited scope parameter (RFC 6749 §3.3). Repeated
    /// spaces and duplicate tokens are tolerated; invalid characters are not.
    pub fn parse(raw: &str) -> Result<Self, ScopeError> {
        if raw.len() > MAX_SCOPE_LEN {
            return Err(ScopeError::TooLong);
        }
        let mut set = BTreeSet::new();
        for token in raw.split(' ').filter(|t| !t.is_empty()) {
            if !token
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
            {
                return Err(ScopeError::InvalidCharacter);
            }
            set.insert(token.to_owned());
        }
        if set.len() > MAX_SCOPES {
            return Err(ScopeError::TooLong);
        }
        Ok(Self(set))
    }

    /// Builds a set from tokens already known to be valid (constants, stored
    /// rows); invalid tokens are dropped rather than trusted.
    pub fn from_tokens<I, S>(tokens: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let joined: Vec<String> = tokens.into_iter().map(|s| s.as_ref().to_owned()).collect();
        Self(
            joined
                .into_iter()
                .filter(|t| Self::parse(t).map(|s| s.len() == 1).unwrap_or(false))
                .collect(),
        )
    }

    /// Every scope the platform defines.
    pub fn all_known() -> Self {
        Self(KNOWN_SCOPES.iter().map(|(s, _)| (*s).to_owned()).collect())
    }

    /// Scopes present in both sets.
    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.intersection(&other.0).cloned().collect())
    }

    /// Scopes in either set.
    pub fn union(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.union(&other.0).cloned().collect())
    }

    /// Whether every scope of `self` is in `other`.
    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    /// Whether `scope` is in the set.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    /// Whether the set holds at least one of `scopes`.
    pub fn contains_any(&self, scopes: &[&str]) -> bool {
        scopes.iter().any(|s| self.contains(s))
    }

    /// The scopes for which `keep` is true.
    pub fn filter(&self, keep: impl Fn(&str) -> bool) -> ScopeSet {
        Self(self.0.iter().filter(|s| keep(s)).cloned().collect())
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of scopes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The scopes, in sorted order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The scopes with their consent sentences, in the platform's order, with
    /// unknown scopes last and described by their name.
    pub fn described(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = KNOWN_SCOPES
            .iter()
            .filter(|(name, _)| self.contains(name))
            .map(|(name, text)| ((*name).to_owned(), (*text).to_owned()))
            .collect();
        for s in self.iter().filter(|s| describe(s).is_none()) {
            out.push((s.to_owned(), format!("Use the “{s}” permission")));
        }
        out
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
            first = false;
        }
        Ok(())
    }
}

impl fmt::Debug for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScopeSet({self})")
    }
}

impl Serialize for ScopeSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter())
    }
}

impl<'de> Deserialize<'de> for ScopeSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let tokens = Vec::<String>::deserialize(d)?;
        let joined = tokens.join(" ");
        if tokens.iter().any(|t| t.is_empty() || t.contains(' ')) {
            return Err(serde::de::Error::custom("scopes must be single tokens"));
        }
        ScopeSet::parse(&joined).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(crate::testing::proptest_config())]

        /// Any scope parameter parses or is refused without panicking, and
        /// a parsed set prints as a parameter that parses back to itself.
        #[test]
        fn parsed_scopes_round_trip(raw in prop_oneof![any::<String>(), "[ !#-\\[\\]-~]{0,80}"]) {
            if let Ok(set) = ScopeSet::parse(&raw) {
                let again = ScopeSet::parse(&set.to_string());
                prop_assert_eq!(again.as_ref(), Ok(&set));
                prop_assert!(set.len() <= MAX_SCOPES);
                prop_assert_eq!(ScopeSet::from_tokens(set.iter()), set.clone());
            }
        }
    }

    #[test]
    fn parsing_dedups_and_sorts_and_tolerates_extra_spaces() {
        let s = ScopeSet::parse("email  profile email").unwrap();
        assert_eq!(s.to_string(), "email profile");
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn parsing_refuses_characters_outside_the_rfc_grammar() {
        assert_eq!(
            ScopeSet::parse("profile \"quoted\""),
            Err(ScopeError::InvalidCharacter)
        );
        assert_eq!(ScopeSet::parse("a\\b"), Err(ScopeError::InvalidCharacter));
        assert_eq!(
            ScopeSet::parse("tab\there"),
            Err(ScopeError::InvalidCharacter)
        );
        assert_eq!(ScopeSet::parse(&"a".repeat(5000)), Err(ScopeError::TooLong));
    }

    #[test]
    fn intersection_keeps_only_what_every_party_allows() {
        let requested = ScopeSet::parse("profile email admin mcp:connect").unwrap();
        let client = ScopeSet::parse("profile email mcp:connect").unwrap();
        let role = ScopeSet::parse("profile email users:read mcp:connect").unwrap();
        let granted = requested.intersection(&client).intersection(&role);
        assert_eq!(granted.to_string(), "email mcp:connect profile");
        assert!(granted.is_subset(&requested));
    }

    #[test]
    fn described_lists_known_scopes_in_platform_order() {
        let s = ScopeSet::parse("mcp:connect profile custom:thing").unwrap();
        let d = s.described();
        assert_eq!(d[0].0, "profile");
        assert_eq!(d[1].0, "mcp:connect");
        assert_eq!(d[2].0, "custom:thing");
    }

    #[test]
    fn json_round_trip_is_a_list() {
        let s = ScopeSet::parse("email profile").unwrap();
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(j, r#"["email","profile"]"#);
        assert_eq!(serde_json::from_str::<ScopeSet>(&j).unwrap(), s);
        assert!(serde_json::from_str::<ScopeSet>(r#"["a b"]"#).is_err());
    }
}
