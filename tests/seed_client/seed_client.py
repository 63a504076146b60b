# The seed document's Python client (shared/seed/oauth-for-mcp-servers.md),
# unchanged except for its base URLs: the platform API base comes from
# GATEHOUSE_URL instead of "https://api.yourplatform.com", and the one
# import the MCP-server class never uses (`from mcp import ...`) is left out
# because the seed names an MCP SDK API that no longer exists.
import os

API_BASE = os.environ.get("GATEHOUSE_URL", "http://127.0.0.1:8080")

# ---- seed: "1. Authorization Code Flow" ------------------------------------
# MCP Server OAuth Client
import requests
import secrets
import hashlib
import base64
import urllib.parse

class MCPOAuthClient:
    def __init__(self, client_id, client_secret, auth_server_base):
        self.client_id = client_id
        self.client_secret = client_secret
        self.auth_server_base = auth_server_base
        self.redirect_uri = "http://localhost:8000/oauth/callback"
    
    def get_authorization_url(self):
        """Generate authorization URL with PKCE."""
        
        # Generate PKCE parameters
        code_verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode('utf-8').rstrip('=')
        code_challenge = base64.urlsafe_b64encode(
            hashlib.sha256(code_verifier.encode()).digest()
        ).decode('utf-8').rstrip('=')
        
        # Store code_verifier for later use
        self.code_verifier = code_verifier
        
        params = {
            'response_type': 'code',
            'client_id': self.client_id,
            'redirect_uri': self.redirect_uri,
            'scope': 'profile email organizations users:read mcp:connect',
            'state': secrets.token_urlsafe(32),
            'code_challenge': code_challenge,
            'code_challenge_method': 'S256'
        }
        
        return f"{self.auth_server_base}/oauth/authorize?{urllib.parse.urlencode(params)}"
    
    def exchange_code(self, code):
        """Exchange authorization code for access token."""
        
        data = {
            'grant_type': 'authorization_code',
            'client_id': self.client_id,
            'client_secret': self.client_secret,
            'code': code,
            'redirect_uri': self.redirect_uri,
            'code_verifier': self.code_verifier
        }
        
        response = requests.post(
            f"{self.auth_server_base}/oauth/token",
            data=data
        )
        
        return response.json()
    
    def get_user_info(self, access_token):
        """Get user information using access token."""
        
        headers = {'Authorization': f'Bearer {access_token}'}
        
        response = requests.get(
            f"{self.auth_server_base}/oauth/userinfo",
            headers=headers
        )
        
        return response.json()
    
    def make_api_call(self, access_token, endpoint):
        """Make authenticated API call."""
        
        headers = {
            'Authorization': f'Bearer {access_token}',
            'Content-Type': 'application/json'
        }
        
        response = requests.get(
            f"{API_BASE}/api/v1{endpoint}",
            headers=headers
        )
        
        return response.json()

# ---- seed: "2. MCP Server with OAuth integration" --------------------------
# mcp_server.py
import asyncio
import json

class AuthenticatedMCPServer:
    def __init__(self, oauth_client):
        self.oauth_client = oauth_client
        self.access_token = None
        self.user_info = None
    
    async def initialize(self):
        """Initialize MCP server with OAuth authentication."""
        
        # Get authorization (в реальном приложении через browser/redirect)
        auth_url = self.oauth_client.get_authorization_url()
        print(f"Please authorize at: {auth_url}")
        
        # Simulate getting authorization code
        code = input("Enter authorization code: ")
        
        # Exchange for tokens
        tokens = self.oauth_client.exchange_code(code)
        self.access_token = tokens['access_token']
        
        # Get user info
        self.user_info = self.oauth_client.get_user_info(self.access_token)
        print(f"Authenticated as: {self.user_info['email']}")
    
    async def handle_list_files(self, organization_id):
        """MCP tool: List files for organization."""
        
        if not self.access_token:
            raise Exception("Not authenticated")
        
        # Check if user has access to organization
        orgs = self.oauth_client.make_api_call(
            self.access_token, 
            '/organizations/'
        )
        
        user_org_ids = [org['organization']['id'] for org in orgs['organizations']]
        
        if organization_id not in user_org_ids:
            raise Exception(f"No access to organization {organization_id}")
        
        # Get users in organization (example API call)
        users = self.oauth_client.make_api_call(
            self.access_token,
            f'/users/?organization_id={organization_id}'
        )
        
        return {
            "files": [
                {
                    "name": f"user_{user['id']}.json",
                    "content": json.dumps(user, indent=2)
                }
                for user in users['users']
            ]
        }
    
    async def handle_get_user_profile(self):
        """MCP tool: Get current user profile."""
        
        if not self.user_info:
            raise Exception("Not authenticated")
        
        return self.user_info

# ---- seed: "Token Management" ----------------------------------------------
# The seed's helpers read these module globals.
client_id = None
client_secret = None
auth_server_base = None

# Refresh tokens
def refresh_access_token(refresh_token):
    data = {
        'grant_type': 'refresh_token',
        'client_id': client_id,
        'client_secret': client_secret,
        'refresh_token': refresh_token
    }
    
    response = requests.post(f"{auth_server_base}/oauth/token", data=data)
    return response.json()

# Revoke tokens
def revoke_token(access_token):
    data = {
        'token': access_token,
        'client_id': client_id,
        'client_secret': client_secret
    }
    
    response = requests.post(f"{auth_server_base}/oauth/revoke", data=data)
    return response.status_code == 200
