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

schema: install
	$(UV) run --frozen loyalty schema -o schema.graphql

test: lint
	$(UV) run --frozen loyalty schema --check schema.graphql
	scripts/ensure-postgres
	$(UV) run --frozen pytest
