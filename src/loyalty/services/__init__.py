"""The business rules. Each mutation is one database transaction."""
