"""The first things a new user does, end to end over HTTP."""

from __future__ import annotations

from tests.conftest import TEST_PASSWORD, Api, Staff


async def test_owner_signs_in_and_reads_themselves(api: Api, owner: Staff) -> None:
    data = await api.data(
        "mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { accessToken errors { code } } }",
        {"e": owner.email, "p": TEST_PASSWORD},
    )
    token = data["signIn"]["accessToken"]
    me = await api.data("{ me { email role totalPoints } }", token=token)
    assert me["me"] == {"email": owner.email, "role": "OWNER", "totalPoints": 0}
