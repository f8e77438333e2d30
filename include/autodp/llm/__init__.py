"""OpenAI-compatible LLM endpoints: settings, one client, and the local server."""
