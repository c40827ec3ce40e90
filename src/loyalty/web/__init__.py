"""The HTTP surface: the GraphQL endpoint, health checks, keys, and JSON error pages."""
