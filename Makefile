# The two commands: `make run` and `make test`. Everything else is a step of theirs.

UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := python3 -m uv
endif

.PHONY: run test install lint schema bench

install:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check uv
	@$(UV) sync --frozen --quiet

run: install
	$(UV) run --frozen loyalty migrate
	$(UV) run --frozen loyalty create-owner
	$(UV) run --frozen loyalty serve

lint: install
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen lint-imports
	$(UV) run --frozen mypy src

schema: install
	$(UV) run --frozen loyalty schema -o schema.graphql

test: lint
	$(UV) run --frozen loyalty schema --check schema.graphql
	scripts/ensure-postgres
	$(UV) run --frozen pytest

# Our server against the floor (bench/floor.py) under wrk; prints the table and writes bench/RESULTS.md.
bench: install
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
