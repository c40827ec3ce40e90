"""Signing in, rotating refresh tokens, signing out, and what an access token is worth afterwards."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher, Type
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from loyalty.auth.permissions import Role
from loyalty.datasources import users
from loyalty.datasources.tables import refresh_tokens
from tests.conftest import TEST_PASSWORD, Api, Staff

SIGN_IN = """
mutation($email: String!, $password: String!) {
  signIn(email: $email, password: $password) {
    accessToken refreshToken expiresIn
    user { id email role }
    errors { code field message }
  }
}
"""
REFRESH = """
mutation($token: String!) {
  refreshToken(refreshToken: $token) {
    accessToken refreshToken expiresIn
    user { id email }
    errors { code field message }
  }
}
"""
SIGN_OUT = "mutation($token: String!) { signOut(refreshToken: $token) { ok } }"
ME = "{ me { id email role } }"
ENROLL = """
mutation($input: EnrollUserInput!) {
  enrollUser(input: $input) { user { id } errors { code field } }
}
"""
UPDATE_ROLE = """
mutation($id: ID!, $role: Role!) {
  updateUser(id: $id, input: {role: $role}) { user { role } errors { code field } }
}
"""
DELETE = "mutation($id: ID!) { deleteUser(id: $id) { deletedUserId errors { code field } } }"

WRONG_PASSWORD = "not the password at all"
MAX_FAILURES = 5


async def sign_in(api: Api, email: str, password: str = TEST_PASSWORD) -> dict[str, Any]:
    data = await api.data(SIGN_IN, {"email": email, "password": password})
    return data["signIn"]


async def refresh(api: Api, token: str) -> dict[str, Any]:
    data = await api.data(REFRESH, {"token": token})
    return data["refreshToken"]


async def sign_in_error(api: Api, email: str, password: str = TEST_PASSWORD) -> dict[str, Any]:
    """The one UserError of a sign-in that must fail (and hand out no token)."""
    payload = await sign_in(api, email, password)
    assert payload["accessToken"] is None
    assert payload["refreshToken"] is None
    assert len(payload["errors"]) == 1, payload
    return payload["errors"][0]


async def refresh_error(api: Api, token: str) -> dict[str, Any]:
    payload = await refresh(api, token)
    assert payload["accessToken"] is None
    assert payload["refreshToken"] is None
    assert len(payload["errors"]) == 1, payload
    return payload["errors"][0]


async def fail_sign_ins(api: Api, email: str, times: int = MAX_FAILURES) -> None:
    for _ in range(times):
        error = await sign_in_error(api, email, WRONG_PASSWORD)
        assert error["code"] == "INVALID_CREDENTIALS"


def enrolment() -> dict[str, Any]:
    return {"input": {"email": "new.customer@example.com", "firstName": "New", "lastName": "Customer"}}


# --- signIn --------------------------------------------------------------------------------------


async def test_sign_in_returns_tokens_their_lifetime_and_the_user(api: Api, owner: Staff) -> None:
    payload = await sign_in(api, owner.email)

    assert payload["errors"] == []
    assert payload["accessToken"]
    assert payload["refreshToken"]
    assert payload["expiresIn"] == 900
    assert payload["user"] == {"id": owner.id, "email": owner.email, "role": "OWNER"}


async def test_sign_in_access_token_grants_access(api: Api, owner: Staff) -> None:
    payload = await sign_in(api, owner.email)

    me = await api.data(ME, token=payload["accessToken"])

    assert me["me"] == {"id": owner.id, "email": owner.email, "role": "OWNER"}


async def test_a_password_hashed_at_another_cost_is_hashed_again_at_sign_in(api: Api, owner: Staff) -> None:
    older = PasswordHasher(time_cost=2, memory_cost=16, parallelism=2, type=Type.ID).hash(TEST_PASSWORD)
    async with api.services.db.transaction() as conn:
        await users.set_password_hash(conn, uuid.UUID(owner.id), older, end_sessions=False)

    first, second = await sign_in(api, owner.email), await sign_in(api, owner.email)

    assert first["errors"] == second["errors"] == []
    async with api.services.db.transaction() as conn:
        stored = await users.fetch_password_hash(conn, uuid.UUID(owner.id))
    assert stored is not None
    assert "$m=8,t=1,p=1$" in stored  # the test settings' cost


async def test_sign_in_ignores_the_case_of_the_email(api: Api, owner: Staff) -> None:
    payload = await sign_in(api, owner.email.upper())

    assert payload["errors"] == []
    assert payload["user"]["id"] == owner.id


async def test_wrong_password_and_unknown_email_fail_alike(api: Api, owner: Staff) -> None:
    wrong_password = await sign_in_error(api, owner.email, WRONG_PASSWORD)
    unknown_email = await sign_in_error(api, "nobody@example.com", WRONG_PASSWORD)

    assert wrong_password["code"] == "INVALID_CREDENTIALS"
    assert unknown_email == wrong_password


async def test_customer_cannot_sign_in(api: Api) -> None:
    customer = await api.user(Role.USER)

    error = await sign_in_error(api, customer.email)

    assert error["code"] == "INVALID_CREDENTIALS"


async def test_deleted_staff_member_cannot_sign_in(api: Api, owner: Staff) -> None:
    manager = await api.user(Role.MANAGER)
    deleted = await api.data(DELETE, {"id": manager.id}, token=owner.token)
    assert deleted["deleteUser"]["errors"] == []

    error = await sign_in_error(api, manager.email)

    assert error["code"] == "INVALID_CREDENTIALS"


# --- lockout -------------------------------------------------------------------------------------


async def test_four_failures_do_not_lock_an_email(api: Api, owner: Staff) -> None:
    await fail_sign_ins(api, owner.email, MAX_FAILURES - 1)

    payload = await sign_in(api, owner.email)

    assert payload["errors"] == []


async def test_five_failures_lock_an_email_even_with_the_right_password(api: Api, owner: Staff) -> None:
    await fail_sign_ins(api, owner.email)

    error = await sign_in_error(api, owner.email, TEST_PASSWORD)

    assert error["code"] == "ACCOUNT_LOCKED"


async def test_five_failures_lock_an_unknown_email_too(api: Api) -> None:
    await fail_sign_ins(api, "nobody@example.com")

    error = await sign_in_error(api, "nobody@example.com", WRONG_PASSWORD)

    assert error["code"] == "ACCOUNT_LOCKED"


async def test_locking_a_known_and_an_unknown_email_reads_the_same(api: Api, owner: Staff) -> None:
    async def attempts(email: str) -> list[dict[str, Any]]:
        return [await sign_in_error(api, email, WRONG_PASSWORD) for _ in range(MAX_FAILURES + 1)]

    known = await attempts(owner.email)
    unknown = await attempts("nobody@example.com")

    assert [error["code"] for error in known] == ["INVALID_CREDENTIALS"] * MAX_FAILURES + ["ACCOUNT_LOCKED"]
    assert unknown == known


async def test_a_locked_email_does_not_lock_another(api: Api, owner: Staff) -> None:
    manager = await api.user(Role.MANAGER)
    await fail_sign_ins(api, owner.email)

    payload = await sign_in(api, manager.email)

    assert payload["errors"] == []


async def test_a_successful_sign_in_clears_the_failure_count(api: Api, owner: Staff) -> None:
    await fail_sign_ins(api, owner.email, MAX_FAILURES - 1)
    assert (await sign_in(api, owner.email))["errors"] == []
    await fail_sign_ins(api, owner.email, MAX_FAILURES - 1)

    payload = await sign_in(api, owner.email)

    assert payload["errors"] == []


# --- refreshToken --------------------------------------------------------------------------------


async def test_refresh_returns_new_tokens_that_work(api: Api, owner: Staff) -> None:
    first = await sign_in(api, owner.email)

    rotated = await refresh(api, first["refreshToken"])

    assert rotated["errors"] == []
    assert rotated["expiresIn"] == 900
    assert rotated["user"] == {"id": owner.id, "email": owner.email}
    assert rotated["refreshToken"] not in (None, first["refreshToken"])
    me = await api.data(ME, token=rotated["accessToken"])
    assert me["me"]["id"] == owner.id
    again = await refresh(api, rotated["refreshToken"])
    assert again["errors"] == []


async def test_a_rotated_refresh_token_no_longer_works(api: Api, owner: Staff) -> None:
    first = await sign_in(api, owner.email)
    await refresh(api, first["refreshToken"])

    error = await refresh_error(api, first["refreshToken"])

    assert error["code"] == "INVALID_TOKEN"
    assert error["field"] == "refreshToken"


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(api: Api, owner: Staff) -> None:
    first = await sign_in(api, owner.email)
    newest = await refresh(api, first["refreshToken"])
    await refresh_error(api, first["refreshToken"])  # the replay

    error = await refresh_error(api, newest["refreshToken"])

    assert error["code"] == "INVALID_TOKEN"


async def test_a_replay_leaves_other_sign_ins_alone(api: Api, owner: Staff) -> None:
    stolen = await sign_in(api, owner.email)
    other_device = await sign_in(api, owner.email)
    await refresh(api, stolen["refreshToken"])
    await refresh_error(api, stolen["refreshToken"])

    payload = await refresh(api, other_device["refreshToken"])

    assert payload["errors"] == []


@pytest.mark.parametrize("garbage", ["", "not-a-token", "x" * 5000])
async def test_a_garbage_refresh_token_is_invalid(api: Api, garbage: str) -> None:
    error = await refresh_error(api, garbage)

    assert error["code"] == "INVALID_TOKEN"
    assert error["field"] == "refreshToken"


async def test_refresh_tokens_are_not_stored_in_clear(api: Api, owner: Staff) -> None:
    token = (await sign_in(api, owner.email))["refreshToken"]

    async with api.services.db.read() as conn:
        rows = (await conn.execute(sa.select(refresh_tokens))).all()

    assert len(rows) == 1
    stored = [str(value) for value in rows[0] if value is not None]
    assert not any(token in value for value in stored), stored


# --- signOut -------------------------------------------------------------------------------------


async def test_sign_out_ends_the_session(api: Api, owner: Staff) -> None:
    session = await sign_in(api, owner.email)

    signed_out = await api.data(SIGN_OUT, {"token": session["refreshToken"]})

    assert signed_out["signOut"] == {"ok": True}
    error = await refresh_error(api, session["refreshToken"])
    assert error["code"] == "INVALID_TOKEN"


async def test_sign_out_ends_the_rotated_session_too(api: Api, owner: Staff) -> None:
    first = await sign_in(api, owner.email)
    newest = await refresh(api, first["refreshToken"])

    await api.data(SIGN_OUT, {"token": newest["refreshToken"]})

    assert (await refresh_error(api, newest["refreshToken"]))["code"] == "INVALID_TOKEN"


async def test_sign_out_of_an_unknown_token_is_ok(api: Api) -> None:
    signed_out = await api.data(SIGN_OUT, {"token": "never-issued"})

    assert signed_out["signOut"] == {"ok": True}


# --- access tokens -------------------------------------------------------------------------------


async def test_access_token_verifies_against_the_published_jwks(api: Api, owner: Staff) -> None:
    token = (await sign_in(api, owner.email))["accessToken"]

    response = await api.client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    jwks = response.json()
    key_set = KeySet.import_key_set(jwks)
    decoded = jwt.decode(token, key_set, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": "https://testserver"},
        aud={"essential": True, "value": "loyalty-api"},
        sub={"essential": True, "value": owner.id},
        exp={"essential": True},
    ).validate(decoded.claims)

    [published] = jwks["keys"]
    assert decoded.header["alg"] == "RS256"
    assert decoded.header["kid"] == published["kid"] == RSAKey.import_key(published).thumbprint()
    assert "d" not in published  # only the public half is published
    assert decoded.claims["exp"] - decoded.claims["iat"] == 900


async def test_deleted_staff_members_access_token_stops_working_at_once(api: Api, owner: Staff) -> None:
    manager = await api.user(Role.MANAGER)
    await api.data(ME, token=manager.token)  # the principal is now cached
    await api.data(DELETE, {"id": manager.id}, token=owner.token)

    code = await api.error_code(ME, token=manager.token)

    assert code == "UNAUTHENTICATED"


async def test_deleted_staff_members_refresh_tokens_are_revoked(api: Api, owner: Staff) -> None:
    manager = await api.user(Role.MANAGER)
    session = await sign_in(api, manager.email)
    await api.data(DELETE, {"id": manager.id}, token=owner.token)

    error = await refresh_error(api, session["refreshToken"])

    assert error["code"] == "INVALID_TOKEN"


async def test_demoted_staff_members_token_carries_the_new_role_at_once(api: Api, owner: Staff) -> None:
    manager = await api.user(Role.MANAGER)
    token = (await sign_in(api, manager.email))["accessToken"]
    enrolled = await api.data(ENROLL, enrolment(), token=token)  # allowed, and the role is now cached
    assert enrolled["enrollUser"]["errors"] == []
    demoted = await api.data(UPDATE_ROLE, {"id": manager.id, "role": "PRODUCT_MANAGER"}, token=owner.token)
    assert demoted["updateUser"] == {"user": {"role": "PRODUCT_MANAGER"}, "errors": []}

    me = await api.data(ME, token=token)
    code = await api.error_code(UPDATE_ROLE, {"id": owner.id, "role": "MANAGER"}, token=token)

    assert me["me"]["role"] == "PRODUCT_MANAGER"
    assert code == "FORBIDDEN"  # product managers do not edit users


async def test_staff_member_demoted_to_customer_loses_access(api: Api, owner: Staff) -> None:
    manager = await api.user(Role.MANAGER)
    session = await sign_in(api, manager.email)
    await api.data(ME, token=session["accessToken"])  # the principal is now cached
    demoted = await api.data(UPDATE_ROLE, {"id": manager.id, "role": "USER"}, token=owner.token)
    assert demoted["updateUser"] == {"user": {"role": "USER"}, "errors": []}

    code = await api.error_code(ME, token=session["accessToken"])

    assert code == "UNAUTHENTICATED"


async def test_staff_member_demoted_to_customer_loses_their_refresh_tokens(api: Api, owner: Staff) -> None:
    manager = await api.user(Role.MANAGER)
    session = await sign_in(api, manager.email)
    await api.data(UPDATE_ROLE, {"id": manager.id, "role": "USER"}, token=owner.token)

    error = await refresh_error(api, session["refreshToken"])

    assert error["code"] == "INVALID_TOKEN"
    async with api.services.db.read() as conn:
        revoked_at = (await conn.execute(sa.select(refresh_tokens.c.revoked_at))).scalars().all()
    assert revoked_at
    assert all(value is not None for value in revoked_at)


async def test_staff_member_demoted_to_customer_cannot_sign_in(api: Api, owner: Staff) -> None:
    manager = await api.user(Role.MANAGER)
    await api.data(UPDATE_ROLE, {"id": manager.id, "role": "USER"}, token=owner.token)

    error = await sign_in_error(api, manager.email)

    assert error["code"] == "INVALID_CREDENTIALS"
