"""Configuration from ``LOYALTY_*`` environment variables, validated once at start."""

from __future__ import annotations

import ipaddress
from email.utils import parseaddr
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from limits import RateLimitItem, parse_many
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def parse_budget(text: str) -> RateLimitItem:
    """One rate in the notation of :mod:`limits` (``300/minute``, ``10 per second``, ``50/5 minutes``)."""
    example = "a rate such as '300/minute' or '10 per second'"
    try:
        items = parse_many(text)
    except ValueError:
        raise ValueError(f"The rate limit budget {text!r} is not {example}.") from None
    if len(items) != 1:
        raise ValueError(f"The rate limit budget {text!r} holds {len(items)} rates; give one, {example}.")
    if items[0].amount < 1:
        raise ValueError(f"The rate limit budget {text!r} allows nothing; give at least 1 request.")
    return items[0]


def _browser_origin(text: str) -> str:
    """``scheme://host[:port]`` as a browser's ``Origin`` header has it; no wildcard, path or user.

    Exact origins only: a pattern is how allow-lists come to admit ``console.example.com.evil.example``."""
    parts = urlsplit(text.rstrip("/"))
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or "*" in text
        or parts.username is not None
        or parts.path
        or parts.query
        or parts.fragment
    ):
        example = "'https://console.example.com' (exact, no wildcard)"
        raise ValueError(f"{text!r} is not an origin such as {example}")
    parts.port  # noqa: B018 -- raises ValueError for a port that is not a number in range
    return f"{parts.scheme}://{parts.netloc.lower()}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOYALTY_", frozen=True, extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; defaults to SQLite in the data directory."
    )
    database_pool_size: int = Field(
        default=20,
        ge=2,
        le=1000,
        description="PostgreSQL connections per worker in each pool: reads, points changes, other changes.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    graceful_shutdown_seconds: int = Field(
        default=20,
        ge=1,
        le=3600,
        description="On SIGTERM, how long requests in flight may still take before they are cancelled.",
    )
    public_url: str | None = Field(default=None, description="Token issuer; defaults to http://host:port.")

    jwt_private_key: str | None = Field(
        default=None, description="PEM text or a path to a PEM file: one key, or a rotation's bundle."
    )
    jwt_key_reload_seconds: float = Field(
        default=5.0, ge=0, le=3600, description="How often the key file is checked for a rotation."
    )
    access_token_seconds: int = Field(default=15 * 60, ge=60, le=24 * 3600)
    refresh_token_days: int = Field(default=30, ge=1, le=365)
    principal_cache_seconds: float = Field(
        default=30.0,
        ge=0,
        le=60,
        description="How long a staff member's role is trusted before re-reading it.",
    )

    oidc_issuer: str | None = Field(default=None, description="An external OpenID Connect issuer (Cognito).")
    oidc_audience: str | None = Field(default=None, description="Its app client id (aud or client_id).")
    oidc_jwks_url: str | None = Field(
        default=None, description="Default: from the issuer's discovery document."
    )
    oidc_role_claim: str = "cognito:groups"
    oidc_role_from_claim: bool = Field(
        default=False, description="Take the role from the claim instead of the user row matched by email."
    )

    admin_email: str = "owner@example.com"
    admin_password: str | None = None

    # OWASP's Argon2id settings: ~20 ms of one core per check (see auth/passwords.py).
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_memory_kib: int = Field(default=19 * 1024, ge=8)
    argon2_parallelism: int = Field(default=1, ge=1)

    log_store: Literal["sql", "dynamodb"] = Field(
        default="sql", description="Where the activity log is kept."
    )
    dynamodb_table: str = Field(default="loyalty-activity-log", min_length=3, max_length=255)
    dynamodb_endpoint: str | None = Field(default=None, description="A local DynamoDB-compatible server.")
    aws_region: str = "us-east-1"
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated proxy addresses or networks whose X-Forwarded-For is believed.",
    )

    rate_limit: str = Field(
        default="30000/minute",
        description="Each caller's budget of GraphQL work: a request spends its cost plus 10 (README).",
    )
    redis_url: str | None = Field(
        default=None, description="Share rate limits across instances (redis://...)."
    )

    # Limits before work (README: Limits): a document over any is refused with QUERY_TOO_COMPLEX.
    max_tokens: int = Field(default=1_000, ge=100, le=1_000_000, description="Tokens of a document.")
    max_depth: int = Field(default=15, ge=2, le=1000, description="Fields nested in fields.")
    max_aliases: int = Field(default=30, ge=0, description="Aliases in an operation, fragments expanded.")
    max_root_fields: int = Field(default=20, ge=1, description="Fields at the root of an operation.")
    max_field_repeats: int = Field(default=3, ge=1, description="One response name in one selection set.")
    max_cost: int = Field(default=20_000, ge=1, description="Objects an answer may hold, plus weights.")
    persisted_operations: str | None = Field(
        default=None,
        description="Comma-separated JSON manifests or directories of them: only their operations run.",
    )

    # Budgets of sign-ins and partner tokens, and how refusals are summarized in the activity log.
    sign_in_address_attempts: int = Field(
        default=50, ge=1, le=100_000, description="Sign-in attempts one address may make in 15 minutes."
    )
    oauth_client_rate_limit: str = Field(
        default="60/minute", description="Each partner client's budget of /oauth/token requests."
    )
    oauth_address_rate_limit: str = Field(
        default="60/minute", description="Each address's budget of /oauth/token requests."
    )
    refusal_log_window_seconds: float = Field(
        default=60.0, gt=0, le=3600, description="A caller's repeated refusals make one log entry per window."
    )

    max_concurrent_operations: int = Field(
        default=16, ge=1, le=10_000, description="GraphQL operations a worker executes at once; others queue."
    )
    anonymous_burst: int = Field(
        default=10,
        ge=1,
        le=100_000,
        description="Requests without a token (GraphQL, /oauth/token) an address may send at once; then 429.",
    )
    anonymous_per_second: float = Field(
        default=5.0, gt=0, le=100_000, description="How fast an address's burst comes back, per second."
    )
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    cors_origins: str = Field(
        default="",
        description="Comma-separated exact origins (https://console.example.com) whose pages call the API.",
    )
    graphiql: bool = True
    console_dir: Path | None = Field(
        default=None, description="The built console (npm run build); default: console_dist in loyalty.web."
    )
    introspection: bool = True
    sql_echo: bool = False

    # Logs and metrics (README: Logs, metrics and traces); traces follow the standard OTEL_* variables.
    log_format: Literal["json", "text", "auto"] = Field(
        default="auto", description="json, text, or auto: text when stderr is a terminal, else json."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="Serve /metrics on this port (off when unset)."
    )
    metrics_host: str = Field(default="127.0.0.1", description="Where the metrics listener binds.")
    metrics_token: SecretStr | None = Field(
        default=None, description="Bearer token /metrics requires; needed off the loopback interface."
    )

    # Email notifications: queued in the database with each change, sent by a worker.
    email_sender: Literal["console", "smtp", "ses"] = Field(
        default="console", description="console prints messages (development); smtp or ses send them."
    )
    email_from: str = "Loyalty <no-reply@example.com>"
    smtp_host: str = Field(default="localhost", min_length=1)
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = Field(default=True, description="Upgrade the connection with STARTTLS (required).")
    smtp_timeout: float = Field(default=30.0, gt=0, le=300)
    console_url: str | None = Field(
        default=None, description="The admin console; emails link to its pages. Default: this server."
    )
    notify_customers: bool = Field(default=False, description="Email customers when their points change.")
    email_max_attempts: int = Field(default=8, ge=1, le=100)
    email_retry_base_seconds: float = Field(default=30.0, ge=0, description="First retry delay; doubles.")
    email_retry_max_seconds: float = Field(default=3600.0, gt=0, description="Longest retry delay.")
    email_worker_in_process: bool = Field(
        default=True, description="Send from the server; false when `loyalty worker` or the Lambda sends."
    )

    @field_validator("email_from")
    @classmethod
    def _sender_address(cls, value: str) -> str:
        if "@" not in parseaddr(value)[1] or "\n" in value or "\r" in value:
            raise ValueError("must be an address, optionally with a name: 'Loyalty <no-reply@example.com>'")
        return value

    @field_validator("console_url")
    @classmethod
    def _console_absolute_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("must be an absolute http(s) URL")
        return url.rstrip("/") if url else url

    @model_validator(mode="after")
    def _smtp_login_complete(self) -> Settings:
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ValueError("LOYALTY_SMTP_USERNAME and LOYALTY_SMTP_PASSWORD go together")
        return self

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_capitals(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _metrics_protected(self) -> Settings:
        """Metrics name operations and show load: beyond this machine, only with a token."""
        loopback = self.metrics_host in ("localhost", "::1") or self.metrics_host.startswith("127.")
        if self.metrics_port is not None and not loopback and self.metrics_token is None:
            raise ValueError(
                "LOYALTY_METRICS_TOKEN is needed when LOYALTY_METRICS_HOST is not a loopback address"
            )
        return self

    @field_validator("database_url")
    @classmethod
    def _supported_driver(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return url

    @field_validator("public_url")
    @classmethod
    def _absolute_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("must be an absolute http(s) URL")
        return url.rstrip("/") if url else url

    @model_validator(mode="after")
    def _oidc_complete(self) -> Settings:
        if self.oidc_issuer and not self.oidc_audience:
            raise ValueError("LOYALTY_OIDC_AUDIENCE (the app client id) is needed with LOYALTY_OIDC_ISSUER")
        return self

    @model_validator(mode="after")
    def _argon2_memory_fits_lanes(self) -> Settings:
        if self.argon2_memory_kib < 8 * self.argon2_parallelism:
            raise ValueError("LOYALTY_ARGON2_MEMORY_KIB must be at least 8 x LOYALTY_ARGON2_PARALLELISM")
        return self

    @field_validator("rate_limit", "oauth_client_rate_limit", "oauth_address_rate_limit")
    @classmethod
    def _budget(cls, value: str) -> str:
        parse_budget(value)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        for part in filter(None, (item.strip() for item in value.split(","))):
            ipaddress.ip_network(part, strict=False)  # raises ValueError with a clear message
        return value

    @property
    def trusted_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        parts = filter(None, (item.strip() for item in self.trusted_proxies.split(",")))
        return tuple(ipaddress.ip_network(part, strict=False) for part in parts)

    @field_validator("cors_origins")
    @classmethod
    def _exact_origins(cls, value: str) -> str:
        for origin in filter(None, (item.strip() for item in value.split(","))):
            _browser_origin(origin)
        return value

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        """The CORS allow-list, written as browsers send ``Origin`` (lower case, no trailing slash)."""
        return tuple(_browser_origin(item.strip()) for item in self.cors_origins.split(",") if item.strip())

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'loyalty.db'}"

    @property
    def issuer(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def console_address(self) -> str:
        """Where the console is: ``console_url``, else this server, which serves it."""
        return self.console_url or self.issuer.rstrip("/")
