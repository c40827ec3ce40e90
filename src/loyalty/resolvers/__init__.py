"""Thin resolvers: who asks, may they, call the service, map the result. No Strawberry types here."""
