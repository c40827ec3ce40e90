"""Persisted operations: Apollo's automatic persisted queries by default, an allow-list from manifests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from loyalty.app import create_app
from loyalty.config import Settings
from loyalty.services.container import Services
from loyalty.web.persisted import PersistedOperations, sha256_hex
from tests.conftest import Staff

ME = "{ me { id } }"


def persisted(digest: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


@pytest.fixture
async def make_client(
    services: Services, settings: Settings
) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    clients: list[httpx.AsyncClient] = []

    def make(**overrides: Any) -> httpx.AsyncClient:
        app = create_app(Settings(**settings.model_dump() | overrides), services=services)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


def code(response: httpx.Response) -> str:
    return response.json()["errors"][0]["extensions"]["code"]


async def test_an_unknown_hash_is_not_found_then_registered_with_its_query(
    make_client: Callable[..., httpx.AsyncClient], owner: Staff
) -> None:
    client, headers = make_client(), {"authorization": f"Bearer {owner.token}"}
    by_hash = {"extensions": persisted(sha256_hex(ME))}

    unknown = await client.post("/graphql", json=by_hash, headers=headers)
    registered = await client.post("/graphql", json={"query": ME, **by_hash}, headers=headers)
    again = await client.post("/graphql", json=by_hash, headers=headers)
    over_get = await client.get(
        "/graphql", params={"extensions": json.dumps(by_hash["extensions"])}, headers=headers
    )

    assert unknown.status_code == 200
    assert code(unknown) == "PERSISTED_QUERY_NOT_FOUND"
    assert unknown.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    assert (
        registered.json()["data"]
        == again.json()["data"]
        == over_get.json()["data"]
        == {"me": {"id": owner.id}}
    )


async def test_a_hash_that_is_not_the_querys_is_refused(
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    client = make_client()
    wrong = await client.post("/graphql", json={"query": ME, "extensions": persisted(sha256_hex("{ x }"))})
    assert code(wrong) == "BAD_REQUEST"
    later = await client.post("/graphql", json={"extensions": persisted(sha256_hex("{ x }"))})
    assert code(later) == "PERSISTED_QUERY_NOT_FOUND"


async def test_a_document_over_the_limits_is_not_registered(
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    client = make_client()
    query = "{ " + " me { id }" * 21 + " }"
    refused = await client.post("/graphql", json={"query": query, "extensions": persisted(sha256_hex(query))})
    assert code(refused) == "QUERY_TOO_COMPLEX"
    later = await client.post("/graphql", json={"extensions": persisted(sha256_hex(query))})
    assert code(later) == "PERSISTED_QUERY_NOT_FOUND"


@pytest.fixture
def manifests(tmp_path: Path) -> str:
    """A partner's manifest (Apollo's format) and the console's (a map of hash to query) in a directory."""
    (tmp_path / "partner.json").write_text(
        json.dumps(
            {"format": "apollo-persisted-query-manifest", "operations": [{"id": sha256_hex(ME), "body": ME}]}
        )
    )
    folder = tmp_path / "console"
    folder.mkdir()
    users = "{ users { totalCount } }"
    (folder / "console.json").write_text(json.dumps({sha256_hex(users): users}))
    return f"{tmp_path / 'partner.json'},{folder}"


async def test_with_an_allow_list_only_registered_operations_run(
    make_client: Callable[..., httpx.AsyncClient], owner: Staff, manifests: str
) -> None:
    client, headers = make_client(persisted_operations=manifests), {"authorization": f"Bearer {owner.token}"}
    users = "{ users { totalCount } }"

    by_hash = await client.post("/graphql", json={"extensions": persisted(sha256_hex(ME))}, headers=headers)
    by_text = await client.post("/graphql", json={"query": users}, headers=headers)
    other = await client.post("/graphql", json={"query": "{ me { email } }"}, headers=headers)
    other_registered = await client.post(
        "/graphql",
        json={"query": "{ me { email } }", "extensions": persisted(sha256_hex("{ me { email } }"))},
    )
    unknown_hash = await client.post("/graphql", json={"extensions": persisted("0" * 64)})

    assert by_hash.json()["data"] == {"me": {"id": owner.id}}
    assert by_text.json()["data"] == {"users": {"totalCount": 1}}
    assert [code(other), code(other_registered), code(unknown_hash)] == ["PERSISTED_QUERY_NOT_IN_LIST"] * 3


def test_a_manifest_with_a_wrong_hash_is_refused_at_start(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({"0" * 64: ME}))
    with pytest.raises(ValueError, match="is not the sha256"):
        PersistedOperations.from_setting(str(tmp_path / "bad.json"))
