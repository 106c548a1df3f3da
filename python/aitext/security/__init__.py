"""Who may call: API keys with scopes, per-key rate limits, TLS credentials."""
