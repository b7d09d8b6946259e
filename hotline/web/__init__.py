"""REST API, WebSocket and web UI for operators and supervisors (aiohttp)."""
