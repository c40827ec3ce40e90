"""Reading, enrolling, editing and deleting users."""

from __future__ import annotations

from loyalty.auth.permissions import Role
from tests.conftest import Api, Staff

ENROLL = """
mutation($input: EnrollUserInput!) {
  enrollUser(input: $input) {
    user { id email firstName lastName role enrolledAt updatedAt totalPoints
           pointsAccounts { id program balance transactions { edges { node { action amount balanceAfter reason actorId } } } } }
    errors { code field message }
  }
}"""
UPDATE = """
mutation($id: ID!, $input: UpdateUserInput!) {
  updateUser(id: $id, input: $input) { user { id email firstName lastName role } errors { code field message } }
}"""
DELETE = "mutation($id: ID!) { deleteUser(id: $id) { deletedUserId errors { code field message } } }"
USER = "query($id: ID!) { user(id: $id) { id email firstName lastName role } }"
USERS = """
query($filter: UserFilter, $first: Int, $after: String) {
  users(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id email role } }
  }
}"""


def customer(email: str = "ada@example.com", **extra: object) -> dict[str, object]:
    return {"email": email, "firstName": "Ada", "lastName": "Lovelace", **extra}


async def test_enrolling_a_customer_opens_a_default_account(api: Api, owner: Staff) -> None:
    data = await api.data(ENROLL, {"input": customer()}, token=owner.token)

    user = data["enrollUser"]["user"]
    assert data["enrollUser"]["errors"] == []
    assert (user["email"], user["firstName"], user["lastName"], user["role"]) == (
        "ada@example.com",
        "Ada",
        "Lovelace",
        "USER",
    )
    assert user["enrolledAt"].endswith("+00:00")
    assert [(a["program"], a["balance"]) for a in user["pointsAccounts"]] == [("default", 0)]
    assert user["pointsAccounts"][0]["transactions"]["edges"] == []


async def test_initial_points_are_the_first_ledger_row(api: Api, owner: Staff) -> None:
    data = await api.data(ENROLL, {"input": customer(initialPoints=250)}, token=owner.token)

    user = data["enrollUser"]["user"]
    assert user["totalPoints"] == 250
    [row] = [edge["node"] for edge in user["pointsAccounts"][0]["transactions"]["edges"]]
    assert row == {
        "action": "ADD",
        "amount": 250,
        "balanceAfter": 250,
        "reason": "initial points",
        "actorId": owner.id,
    }


async def test_enrolment_trims_names_and_keeps_the_email_readable(api: Api, owner: Staff) -> None:
    data = await api.data(
        ENROLL, {"input": customer("  Grace@Example.COM ", firstName="  Grace ")}, token=owner.token
    )

    user = data["enrollUser"]["user"]
    assert user["firstName"] == "Grace"
    assert user["email"].lower() == "grace@example.com"


async def test_staff_enrolled_with_a_password_is_refused(api: Api, owner: Staff) -> None:
    staff = customer("eng@example.com", role="ENGINEER", password="a long enough password")

    data = await api.data(ENROLL, {"input": staff}, token=owner.token)

    assert data["enrollUser"]["user"] is None
    assert [(e["code"], e["field"]) for e in data["enrollUser"]["errors"]] == [
        ("VALIDATION", "input.password")
    ]


async def test_an_email_is_taken_whatever_its_case(api: Api, owner: Staff) -> None:
    await api.data(ENROLL, {"input": customer("ada@example.com")}, token=owner.token)

    data = await api.data(ENROLL, {"input": customer("ADA@example.com")}, token=owner.token)

    assert data["enrollUser"]["user"] is None
    assert [(e["code"], e["field"]) for e in data["enrollUser"]["errors"]] == [("CONFLICT", "input.email")]


async def test_enrolment_reports_every_invalid_field_at_once(api: Api, owner: Staff) -> None:
    data = await api.data(
        ENROLL,
        {"input": {"email": "not an email", "firstName": " ", "lastName": "x" * 101, "initialPoints": -1}},
        token=owner.token,
    )

    fields = {(e["code"], e["field"]) for e in data["enrollUser"]["errors"]}
    assert fields == {
        ("VALIDATION", "input.email"),
        ("VALIDATION", "input.firstName"),
        ("VALIDATION", "input.lastName"),
        ("VALIDATION", "input.initialPoints"),
    }
    users = await api.data(USERS, token=owner.token)
    assert users["users"]["totalCount"] == 1  # only the owner


async def test_customers_have_no_password(api: Api, owner: Staff) -> None:
    data = await api.data(ENROLL, {"input": customer(password="a long enough password")}, token=owner.token)

    assert [(e["code"], e["field"]) for e in data["enrollUser"]["errors"]] == [
        ("VALIDATION", "input.password")
    ]


async def test_a_short_staff_password_is_refused(api: Api, owner: Staff) -> None:
    data = await api.data(ENROLL, {"input": customer(role="MANAGER", password="short")}, token=owner.token)

    assert [(e["code"], e["field"]) for e in data["enrollUser"]["errors"]] == [
        ("VALIDATION", "input.password")
    ]


async def test_user_by_id_and_by_email_in_any_case(api: Api, owner: Staff) -> None:
    ada = await api.user(Role.USER, email="ada@example.com")

    by_id = await api.data(USER, {"id": ada.id}, token=owner.token)
    by_email = await api.data('{ userByEmail(email: "ADA@Example.com") { id } }', token=owner.token)

    assert by_id["user"]["email"] == "ada@example.com"
    assert by_email["userByEmail"]["id"] == ada.id


async def test_a_missing_or_malformed_id_reads_as_null(api: Api, owner: Staff) -> None:
    for user_id in ("00000000-0000-0000-0000-000000000000", "not-a-uuid", ""):
        assert (await api.data(USER, {"id": user_id}, token=owner.token))["user"] is None


async def test_users_are_listed_newest_first_in_pages(api: Api, owner: Staff) -> None:
    enrolled = [await api.user(Role.USER, email=f"c{i}@example.com") for i in range(5)]
    newest_first = [u.id for u in reversed(enrolled)] + [owner.id]

    first = await api.data(USERS, {"first": 4}, token=owner.token)
    rest = await api.data(
        USERS, {"first": 4, "after": first["users"]["pageInfo"]["endCursor"]}, token=owner.token
    )

    assert [e["node"]["id"] for e in first["users"]["edges"]] == newest_first[:4]
    assert first["users"]["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["id"] for e in rest["users"]["edges"]] == newest_first[4:]
    assert rest["users"]["pageInfo"]["hasNextPage"] is False
    assert first["users"]["totalCount"] == rest["users"]["totalCount"] == 6


async def test_users_can_be_searched_by_name_or_email_and_filtered_by_role(api: Api, owner: Staff) -> None:
    await api.data(ENROLL, {"input": customer("ada@example.com")}, token=owner.token)
    await api.data(
        ENROLL,
        {"input": {"email": "grace@navy.mil", "firstName": "Grace", "lastName": "Hopper"}},
        token=owner.token,
    )
    await api.user(Role.MANAGER, email="mallory@example.com")

    async def emails(filter: dict[str, str]) -> list[str]:
        data = await api.data(USERS, {"filter": filter}, token=owner.token)
        assert data["users"]["totalCount"] == len(data["users"]["edges"])
        return sorted(e["node"]["email"] for e in data["users"]["edges"])

    assert await emails({"search": "LOVELACE"}) == ["ada@example.com"]
    assert await emails({"search": "navy"}) == ["grace@navy.mil"]
    assert await emails({"search": "grace hop"}) == ["grace@navy.mil"]
    assert await emails({"search": "example.com", "role": "USER"}) == ["ada@example.com"]
    assert await emails({"role": "MANAGER"}) == ["mallory@example.com"]
    assert await emails({"search": "%"}) == []


async def test_page_size_must_be_between_1_and_100(api: Api, owner: Staff) -> None:
    for first in (0, 101, -1):
        assert await api.error_code(USERS, {"first": first}, token=owner.token) == "BAD_USER_INPUT"


async def test_a_forged_cursor_is_bad_user_input(api: Api, owner: Staff) -> None:
    for cursor in ("garbage", "bm90fGF8Y3Vyc29y", ""):
        assert await api.error_code(USERS, {"after": cursor}, token=owner.token) == "BAD_USER_INPUT"


async def test_an_update_changes_only_the_fields_given(api: Api, owner: Staff) -> None:
    ada = await api.user(Role.USER, email="ada@example.com")

    data = await api.data(UPDATE, {"id": ada.id, "input": {"firstName": "Augusta"}}, token=owner.token)

    assert data["updateUser"]["user"] == {
        "id": ada.id,
        "email": "ada@example.com",
        "firstName": "Augusta",
        "lastName": "User",
        "role": "USER",
    }


async def test_an_explicit_null_for_a_required_field_is_refused(api: Api, owner: Staff) -> None:
    ada = await api.user(Role.USER, email="ada@example.com")

    data = await api.data(
        UPDATE, {"id": ada.id, "input": {"email": None, "lastName": "B"}}, token=owner.token
    )

    assert [(e["code"], e["field"]) for e in data["updateUser"]["errors"]] == [("VALIDATION", "input.email")]
    assert (await api.data(USER, {"id": ada.id}, token=owner.token))["user"]["lastName"] == "User"


async def test_an_update_to_a_taken_email_is_a_conflict(api: Api, owner: Staff) -> None:
    await api.user(Role.USER, email="ada@example.com")
    grace = await api.user(Role.USER, email="grace@example.com")

    data = await api.data(UPDATE, {"id": grace.id, "input": {"email": "Ada@example.com"}}, token=owner.token)

    assert [(e["code"], e["field"]) for e in data["updateUser"]["errors"]] == [("CONFLICT", "input.email")]


async def test_updating_a_missing_user_is_not_found(api: Api, owner: Staff) -> None:
    data = await api.data(UPDATE, {"id": "nope", "input": {"firstName": "X"}}, token=owner.token)

    assert [(e["code"], e["field"]) for e in data["updateUser"]["errors"]] == [("NOT_FOUND", "id")]


async def test_a_deleted_user_disappears_and_frees_the_email(api: Api, owner: Staff) -> None:
    ada = await api.user(Role.USER, email="ada@example.com", points_balance=40)

    deleted = await api.data(DELETE, {"id": ada.id}, token=owner.token)

    assert deleted["deleteUser"] == {"deletedUserId": ada.id, "errors": []}
    assert (await api.data(USER, {"id": ada.id}, token=owner.token))["user"] is None
    assert (await api.data('{ userByEmail(email: "ada@example.com") { id } }', token=owner.token))[
        "userByEmail"
    ] is None
    assert (await api.data(USERS, token=owner.token))["users"]["totalCount"] == 1
    assert (
        await api.data(
            "query($id: ID!) { pointsAccount(id: $id) { id } }", {"id": ada.account_id}, token=owner.token
        )
    )["pointsAccount"] is None
    again = await api.data(ENROLL, {"input": customer("ada@example.com")}, token=owner.token)
    assert again["enrollUser"]["errors"] == []
    assert again["enrollUser"]["user"]["id"] != ada.id


async def test_deleting_twice_is_not_found(api: Api, owner: Staff) -> None:
    ada = await api.user(Role.USER)
    await api.data(DELETE, {"id": ada.id}, token=owner.token)

    data = await api.data(DELETE, {"id": ada.id}, token=owner.token)

    assert [(e["code"], e["field"]) for e in data["deleteUser"]["errors"]] == [("NOT_FOUND", "id")]


async def test_a_deleted_users_ledger_stays(api: Api, owner: Staff) -> None:
    ada = await api.user(Role.USER, points_balance=40)
    await api.data(DELETE, {"id": ada.id}, token=owner.token)

    from loyalty.datasources.tables import points_transactions

    async with api.services.db.read() as conn:
        rows = (await conn.execute(points_transactions.select())).all()
    assert [(row.kind, row.amount) for row in rows] == [("OVERRIDE", 40)]


async def test_an_owner_cannot_delete_themselves(api: Api, owner: Staff) -> None:
    data = await api.data(DELETE, {"id": owner.id}, token=owner.token)

    assert [(e["code"], e["field"]) for e in data["deleteUser"]["errors"]] == [("SELF_ACTION", "id")]


async def test_an_owner_cannot_demote_themselves(api: Api, owner: Staff) -> None:
    data = await api.data(UPDATE, {"id": owner.id, "input": {"role": "MANAGER"}}, token=owner.token)

    assert [(e["code"], e["field"]) for e in data["updateUser"]["errors"]] == [("SELF_ACTION", "id")]


async def test_staff_may_edit_their_own_name(api: Api, owner: Staff) -> None:
    data = await api.data(
        UPDATE, {"id": owner.id, "input": {"lastName": "Byron", "role": "OWNER"}}, token=owner.token
    )

    assert data["updateUser"]["errors"] == []
    assert data["updateUser"]["user"]["lastName"] == "Byron"
