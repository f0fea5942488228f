"""The sidecar decision API: OpenID AuthZEN 1.0 over the engine. Routing and JSON only."""
