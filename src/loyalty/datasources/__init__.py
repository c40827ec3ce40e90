"""Storage: SQL tables and the queries on them. Knows nothing of permissions or GraphQL."""
