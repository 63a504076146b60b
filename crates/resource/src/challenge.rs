//! RFC 9728 protected-resource metadata and RFC 6750 challenges: how an MCP
//! client holding nothing but a 401 finds the authorization server and
//! learns which scopes to ask for.

use gatehouse_core::challenge::BearerChallenge;
use serde_json::{Value, json};

/// Where RFC 9728 says a resource's metadata lives: the well-known segment
/// inserted between the origin and the resource's path.
pub fn metadata_url_for(resource: &str) -> String {
    match url::Url::parse(resource) {
        Ok(u) => {
            let origin = u.origin().ascii_serialization();
            let path = u.path().trim_end_matches('/');
            format!("{origin}/.well-known/oauth-protected-resource{path}")
        }
        Err(_) => format!(
            "{}/.well-known/oauth-protected-resource",
            resource.trim_end_matches('/')
        ),
    }
}

/// The RFC 9728 document a resource server publishes.
#[derive(Debug, Clone)]
pub struct ProtectedResourceMetadata {
    resource: String,
    authorization_servers: Vec<String>,
    scopes_supported: Vec<String>,
    resource_name: Option<String>,
    resource_documentation: Option<String>,
}

impl ProtectedResourceMetadata {
    /// Metadata for `resource`, protected by `issuer`.
    pub fn new(resource: impl Into<String>, issuer: impl Into<String>) -> Self {
        Self {
            resource: resource.into(),
            authorization_servers: vec![issuer.into()],
            scopes_supported: Vec::new(),
            resource_name: None,
            resource_documentation: None,
        }
    }

    /// The scopes this resource understands. (Never list `offline_access`:
    /// the MCP specification tells clients not to expect it here.)
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes_supported = scopes
            .into_iter()
            .map(Into::into)
            .filter(|s| s != "offline_access")
            .collect();
        self
    }

    /// A human-readable name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// A link to documentation.
    pub fn documentation(mut self, url: impl Into<String>) -> Self {
        self.resource_documentation = Some(url.into());
        self
    }

    /// The JSON document; fields without a value are omitted, never null.
    pub fn to_json(&self) -> Value {
        let mut doc = json!({
            "resource": self.resource,
            "authorization_servers": self.authorization_servers,
            "bearer_methods_supported": ["header"],
        });
        if !self.scopes_supported.is_empty() {
            doc["scopes_supported"] = json!(self.scopes_supported);
        }
        if let Some(n) = &self.resource_name {
            doc["resource_name"] = json!(n);
        }
        if let Some(d) = &self.resource_documentation {
            doc["resource_documentation"] = json!(d);
        }
        doc
    }
}

/// A `WWW-Authenticate: Bearer …` challenge (RFC 6750 §3, RFC 9728 §5.1),
/// always naming the resource's metadata. Built by the core's
/// [`BearerChallenge`], as Gatehouse's own challenges are.
#[derive(Debug, Clone)]
pub struct Challenge(BearerChallenge);

impl Challenge {
    /// A challenge pointing at the resource's metadata.
    pub fn new(resource_metadata: impl Into<String>) -> Self {
        Self(BearerChallenge::new().resource_metadata(resource_metadata))
    }

    /// `error` (`invalid_token`, `insufficient_scope`, `invalid_request`).
    #[must_use]
    pub fn error(self, code: &str) -> Self {
        Self(self.0.error(code))
    }

    /// `error_description`.
    #[must_use]
    pub fn description(self, d: impl Into<String>) -> Self {
        Self(self.0.description(d))
    }

    /// `scope`: every scope the request needs, space-separated.
    #[must_use]
    pub fn scope(self, scopes: &[impl AsRef<str>]) -> Self {
        Self(self.0.scope(scopes))
    }

    /// The header value.
    pub fn header_value(&self) -> String {
        self.0.header_value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_urls_insert_the_well_known_segment() {
        assert_eq!(
            metadata_url_for("https://files.example.com/mcp"),
            "https://files.example.com/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            metadata_url_for("https://files.example.com"),
            "https://files.example.com/.well-known/oauth-protected-resource"
        );
    }

    #[test]
    fn metadata_has_no_nulls_and_no_offline_access() {
        let doc = ProtectedResourceMetadata::new(
            "https://r.example/mcp",
            "https://as.example/api/v1/oauth",
        )
        .scopes(["files:read", "offline_access"])
        .to_json();
        assert_eq!(doc["scopes_supported"], json!(["files:read"]));
        assert!(doc.as_object().unwrap().values().all(|v| !v.is_null()));
    }

    #[test]
    fn challenges_quote_and_order_their_parameters() {
        let c = Challenge::new("https://r.example/.well-known/oauth-protected-resource/mcp")
            .error("insufficient_scope")
            .scope(&["files:read", "files:write"])
            .header_value();
        assert_eq!(
            c,
            r#"Bearer error="insufficient_scope", resource_metadata="https://r.example/.well-known/oauth-protected-resource/mcp", scope="files:read files:write""#
        );
        let c = Challenge::new("u")
            .error("invalid_token")
            .description("bad \"x\"")
            .header_value();
        assert!(c.contains(r#"error_description="bad \"x\"""#));
    }
}
