"""Logs, metrics and traces: what an operator sees of a running server.

The bottom layer: anything may record here (the HTTP layer, the schema, the services), and nothing
here imports the rest of the package. The HTTP layer opens a :class:`~loyalty.observability.context.
RequestTelemetry` per request; log lines, metrics and spans read from it.
"""
