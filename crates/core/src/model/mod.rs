//! The records Gatehouse keeps: clients, people, organizations and the
//! grants that connect them.
//!
//! Identifiers and validated values are newtypes with private fields, so an
//! unchecked string cannot reach a port or a rule.
//!
//! Split by subject: the client side ([`client`]), people and organizations
//! ([`people`]), and what an authorization leaves behind ([`grants`]); this
//! file holds the identifiers and validated values all of them use.

mod client;
mod factors;
mod grants;
mod identity;
mod people;
mod streams;

pub use client::*;
pub use factors::*;
pub use grants::*;
pub use identity::*;
pub use people::*;
pub use streams::*;

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::secret::fill_random;

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
    /// A Shared Signals event stream (`stream_id`).
    StreamId
);
uuid_id!(
    /// An upstream identity provider.
    IdpId
);
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

    /// An address written in Gatehouse's own source, known to be
    /// normalized (no parsing, so no failure to handle).
    pub(crate) fn constant(raw: &'static str) -> Self {
        Self(raw.to_owned())
    }

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
