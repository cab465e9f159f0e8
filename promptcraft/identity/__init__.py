"""Identity shared by every service: users, API keys, JWTs and the MCP token verifier."""
