//! The seed's two MCP tools, answering as the user who called them.
//!
//! Who called comes from the verified token that `BearerAuthLayer` put in the
//! request's extensions (rmcp hands tools the HTTP request parts); what the
//! user may see is decided by the platform API, called with an exchanged
//! token, so the tools never reach further than the user's own rights and
//! the scopes they granted.

use std::sync::Arc;

use gatehouse_resource::Authenticated;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ErrorData, ServerHandler, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::platform::Platform;

/// `list_files` arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ListFilesArgs {
    /// The organization's id, as in `get_user_profile`'s `organizations`.
    pub organization_id: String,
}

/// The MCP server: one per request (the transport is stateless).
#[derive(Debug, Clone)]
pub struct FileServer {
    platform: Arc<Platform>,
    #[allow(dead_code, reason = "read by the code #[tool_handler] generates")]
    tool_router: ToolRouter<Self>,
}

/// The verified caller of this request.
fn caller(parts: &http::request::Parts) -> Result<&Authenticated, ErrorData> {
    // Only reachable through BearerAuthLayer; a missing identity is a wiring bug.
    parts
        .extensions
        .get::<Authenticated>()
        .ok_or_else(|| ErrorData::internal_error("the request was not authenticated", None))
}

/// A refusal for tokens that name no user. A client's own token
/// (`client_credentials`) has `sub` = its `client_id`; these tools act for a
/// signed-in person, so there is nobody to act for.
fn refuse_machine_token(who: &Authenticated) -> Option<CallToolResult> {
    (who.claims.sub == who.claims.client_id).then(|| {
        tool_error("This server acts for a signed-in user; a client's own token names none")
    })
}

fn tool_error(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

/// Whether `organizations` (the body of `GET /organizations/`) lists
/// `organization_id` among the caller's own organizations.
pub fn is_member(organizations: &Value, organization_id: &str) -> bool {
    organizations["organizations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["organization"]["id"].as_str())
        .any(|id| id.eq_ignore_ascii_case(organization_id.trim()))
}

/// The seed's files: one `user_{id}.json` per user, the user as pretty JSON.
pub fn files_of(users: &Value) -> Value {
    let files: Vec<Value> = users["users"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|user| {
            let id = match &user["id"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            json!({
                "name": format!("user_{id}.json"),
                "content": serde_json::to_string_pretty(user).unwrap_or_default(),
            })
        })
        .collect();
    json!({ "files": files })
}

#[tool_router]
impl FileServer {
    /// A server calling the platform through `platform`.
    pub fn new(platform: Arc<Platform>) -> Self {
        Self {
            platform,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(
        description = "Get the current user's profile from Gatehouse: sub, and email, name, role and organizations as far as the user granted them."
    )]
    async fn get_user_profile(
        &self,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        let who = caller(&parts)?;
        tracing::info!(sub = %who.claims.sub, client_id = %who.claims.client_id, "get_user_profile");
        if let Some(refusal) = refuse_machine_token(who) {
            return Ok(refusal);
        }
        Ok(match self.platform.userinfo(who).await {
            Ok(profile) => CallToolResult::structured(profile),
            Err(e) => tool_error(format!("Cannot read the profile: {e}")),
        })
    }

    #[tool(
        description = "List the files of an organization you belong to: one JSON file per member (user_{id}.json)."
    )]
    async fn list_files(
        &self,
        Extension(parts): Extension<http::request::Parts>,
        Parameters(ListFilesArgs { organization_id }): Parameters<ListFilesArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let who = caller(&parts)?;
        tracing::info!(sub = %who.claims.sub, organization_id = %organization_id, "list_files");
        if let Some(refusal) = refuse_machine_token(who) {
            return Ok(refusal);
        }
        let missing: Vec<&str> = ["organizations", "users:read"]
            .into_iter()
            .filter(|s| !who.has_scope(s))
            .collect();
        if !missing.is_empty() {
            return Ok(tool_error(format!(
                "list_files needs the scopes {}; reconnect and grant them",
                missing.join(" ")
            )));
        }
        // The seed's rule: only organizations the user belongs to, even for
        // a platform admin (whom the users API would answer for any
        // organization).
        let orgs = match self.platform.organizations(who).await {
            Ok(v) => v,
            Err(e) => return Ok(tool_error(format!("Cannot list your organizations: {e}"))),
        };
        if !is_member(&orgs, &organization_id) {
            return Ok(tool_error(format!(
                "No access to organization {organization_id}"
            )));
        }
        Ok(match self.platform.users_of(who, &organization_id).await {
            Ok(users) => CallToolResult::structured(files_of(&users)),
            Err(e) => tool_error(format!(
                "Cannot list the members of organization {organization_id}: {e}"
            )),
        })
    }
}

#[tool_handler]
impl ServerHandler for FileServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("mcp-file-server", env!("CARGO_PKG_VERSION")))
            .with_instructions(
            "Files of your organizations on the platform, as you: get_user_profile shows who you \
             are and your organizations; list_files(organization_id) lists one file per member.",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_is_read_from_the_callers_own_organizations() {
        let orgs = json!({"organizations": [
            {"organization": {"id": "9b1d0000-0000-4000-8000-000000000001", "name": "Acme"}, "role": "owner"}
        ]});
        assert!(is_member(&orgs, "9b1d0000-0000-4000-8000-000000000001"));
        assert!(is_member(&orgs, "9B1D0000-0000-4000-8000-000000000001"));
        assert!(!is_member(&orgs, "9b1d0000-0000-4000-8000-000000000002"));
        assert!(!is_member(&json!({}), "x"));
    }

    #[test]
    fn every_member_becomes_one_pretty_json_file() {
        let users = json!({"users": [
            {"id": "u1", "email": "a@example.com"},
            {"id": "u2", "email": "b@example.com"},
        ]});
        let files = files_of(&users);
        let files = files["files"].as_array().unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0]["name"], "user_u1.json");
        let content = files[0]["content"].as_str().unwrap();
        assert!(content.contains("\n  \"email\": \"a@example.com\""));
        assert_eq!(
            serde_json::from_str::<Value>(content).unwrap(),
            users["users"][0]
        );
    }
}
