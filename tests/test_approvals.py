"""Maker-checker: the matrix's "request" cells propose a change; a checker applies it once."""

from __future__ import annotations

import asyncio
from typing import Any

from loyalty.auth.permissions import Role
from tests.conftest import Api, Staff
from tests.test_points import ADJUST, balance

REQUEST_FIELDS = "approvalRequest { id kind status targetId change makerId checkerId comment decidedAt }"
ENROLL = f"""mutation($input: EnrollUserInput!) {{
  enrollUser(input: $input) {{ user {{ id }} {REQUEST_FIELDS} errors {{ code field }} }} }}"""
UPDATE = f"""mutation($id: ID!, $input: UpdateUserInput!) {{
  updateUser(id: $id, input: $input) {{ user {{ id }} {REQUEST_FIELDS} errors {{ code field }} }} }}"""
DELETE = (
    f"""mutation($id: ID!) {{ deleteUser(id: $id) {{ deletedUserId {REQUEST_FIELDS} errors {{ code }} }} }}"""
)
OPEN = f"""mutation($userId: ID!) {{
  openPointsAccount(userId: $userId, program: "airline") {{ account {{ id }} {REQUEST_FIELDS} errors {{ code }} }} }}"""
ADJUST_OR_PROPOSE = f"""mutation($input: AdjustPointsInput!) {{
  adjustPoints(input: $input) {{ transaction {{ id }} {REQUEST_FIELDS} errors {{ code field }} }} }}"""
APPROVE = f"""mutation($id: ID!, $comment: String) {{
  approveRequest(id: $id, comment: $comment) {{ {REQUEST_FIELDS} errors {{ code field }} }} }}"""
REJECT = f"""mutation($id: ID!) {{ rejectRequest(id: $id, comment: "no") {{ {REQUEST_FIELDS} errors {{ code }} }} }}"""
CANCEL = f"""mutation($id: ID!) {{ cancelRequest(id: $id) {{ {REQUEST_FIELDS} errors {{ code }} }} }}"""
LIST = """query($status: ApprovalStatus) { approvalRequests(status: $status) { edges { node { id kind status } } } }"""
USER = "query($id: ID!) { user(id: $id) { id email firstName role } }"


def codes(payload: dict[str, Any]) -> list[str]:
    return [error["code"] for error in payload["errors"]]


async def propose_enrolment(api: Api, maker: Staff, email: str = "ada@example.com") -> dict[str, Any]:
    data = await api.data(
        ENROLL, {"input": {"email": email, "firstName": "Ada", "lastName": "L"}}, token=maker.token
    )
    assert data["enrollUser"]["user"] is None
    return data["enrollUser"]["approvalRequest"]


async def test_an_engineers_enrolment_waits_for_approval_then_applies(api: Api, owner: Staff) -> None:
    engineer = await api.user(Role.ENGINEER)

    request = await propose_enrolment(api, engineer)
    before = await api.data(USER, {"id": request["targetId"]}, token=owner.token)
    approved = (await api.data(APPROVE, {"id": request["id"], "comment": "ok"}, token=owner.token))[
        "approveRequest"
    ]
    after = await api.data(USER, {"id": request["targetId"]}, token=owner.token)

    assert (request["kind"], request["status"], request["makerId"]) == ("ENROLL_USER", "PENDING", engineer.id)
    assert request["change"] == {
        "email": "ada@example.com", "firstName": "Ada", "lastName": "L", "role": "USER", "initialPoints": 0,
    }  # fmt: skip
    assert before["user"] is None
    assert approved["errors"] == []
    assert approved["approvalRequest"]["status"] == "APPROVED"
    assert approved["approvalRequest"]["checkerId"] == owner.id
    assert approved["approvalRequest"]["comment"] == "ok"
    assert approved["approvalRequest"]["decidedAt"]
    assert after["user"]["email"] == "ada@example.com"


async def test_a_product_manager_proposes_enrolments_too(api: Api, owner: Staff) -> None:
    product_manager = await api.user(Role.PRODUCT_MANAGER)

    request = await propose_enrolment(api, product_manager)

    assert request["status"] == "PENDING"


async def test_an_engineers_update_is_applied_on_approval(api: Api, owner: Staff) -> None:
    engineer, ada = await api.user(Role.ENGINEER), await api.user(Role.USER)

    data = await api.data(UPDATE, {"id": ada.id, "input": {"firstName": "Augusta"}}, token=engineer.token)
    request = data["updateUser"]["approvalRequest"]
    await api.data(APPROVE, {"id": request["id"]}, token=owner.token)

    assert request["change"] == {"firstName": "Augusta"}
    assert (await api.data(USER, {"id": ada.id}, token=owner.token))["user"]["firstName"] == "Augusta"


async def test_a_managers_delete_needs_an_owner(api: Api, owner: Staff) -> None:
    manager, other_manager, ada = (
        await api.user(Role.MANAGER),
        await api.user(Role.MANAGER),
        await api.user(Role.USER),
    )

    request = (await api.data(DELETE, {"id": ada.id}, token=manager.token))["deleteUser"]["approvalRequest"]
    by_manager = (await api.data(APPROVE, {"id": request["id"]}, token=other_manager.token))["approveRequest"]
    by_owner = (await api.data(APPROVE, {"id": request["id"]}, token=owner.token))["approveRequest"]

    assert codes(by_manager) == ["NOT_FOUND"]  # not theirs to decide, so not theirs to see
    assert by_owner["errors"] == []
    assert (await api.data(USER, {"id": ada.id}, token=owner.token))["user"] is None


async def test_an_approved_deduct_is_checked_against_the_balance_of_the_moment(
    api: Api, owner: Staff
) -> None:
    engineer, ada = await api.user(Role.ENGINEER), await api.user(Role.USER, points_balance=100)
    deduct = {"input": {"accountId": ada.account_id, "action": "DEDUCT", "amount": 50}}
    request = (await api.data(ADJUST_OR_PROPOSE, deduct, token=engineer.token))["adjustPoints"][
        "approvalRequest"
    ]
    await api.data(
        ADJUST, {"input": {"accountId": ada.account_id, "action": "DEDUCT", "amount": 70}}, token=owner.token
    )

    refused = (await api.data(APPROVE, {"id": request["id"]}, token=owner.token))["approveRequest"]
    still_pending = await api.data(LIST, {"status": "PENDING"}, token=owner.token)
    await api.data(
        ADJUST, {"input": {"accountId": ada.account_id, "action": "ADD", "amount": 20}}, token=owner.token
    )
    approved = (await api.data(APPROVE, {"id": request["id"]}, token=owner.token))["approveRequest"]

    assert codes(refused) == ["INSUFFICIENT_POINTS"]
    assert [edge["node"]["id"] for edge in still_pending["approvalRequests"]["edges"]] == [request["id"]]
    assert approved["errors"] == []
    assert await balance(api, owner.token, ada.account_id) == 0


async def test_an_engineers_new_account_opens_on_approval(api: Api, owner: Staff) -> None:
    engineer, ada = await api.user(Role.ENGINEER), await api.user(Role.USER)

    request = (await api.data(OPEN, {"userId": ada.id}, token=engineer.token))["openPointsAccount"][
        "approvalRequest"
    ]
    await api.data(APPROVE, {"id": request["id"]}, token=owner.token)

    programs = await api.data(
        "query($id: ID!) { user(id: $id) { pointsAccounts { program } } }", {"id": ada.id}, token=owner.token
    )
    assert [a["program"] for a in programs["user"]["pointsAccounts"]] == ["default", "airline"]


async def test_a_request_is_decided_once(api: Api, owner: Staff) -> None:
    engineer, manager = await api.user(Role.ENGINEER), await api.user(Role.MANAGER)
    request = await propose_enrolment(api, engineer)
    await api.data(APPROVE, {"id": request["id"]}, token=owner.token)

    again = (await api.data(APPROVE, {"id": request["id"]}, token=manager.token))["approveRequest"]
    rejected = (await api.data(REJECT, {"id": request["id"]}, token=manager.token))["rejectRequest"]
    cancelled = (await api.data(CANCEL, {"id": request["id"]}, token=engineer.token))["cancelRequest"]

    assert codes(again) == codes(rejected) == codes(cancelled) == ["ALREADY_DECIDED"]


async def test_nobody_approves_their_own_request(api: Api, owner: Staff) -> None:
    engineer = await api.user(Role.ENGINEER)
    request = await propose_enrolment(api, engineer)
    await api.data(UPDATE, {"id": engineer.id, "input": {"role": "MANAGER"}}, token=owner.token)

    own = (await api.data(APPROVE, {"id": request["id"]}, token=engineer.token))["approveRequest"]

    assert codes(own) == ["SELF_APPROVAL"]


async def test_a_rejected_request_changes_nothing(api: Api, owner: Staff) -> None:
    engineer = await api.user(Role.ENGINEER)
    request = await propose_enrolment(api, engineer)

    rejected = (await api.data(REJECT, {"id": request["id"]}, token=owner.token))["rejectRequest"]

    assert rejected["approvalRequest"]["status"] == "REJECTED"
    assert (await api.data(USER, {"id": request["targetId"]}, token=owner.token))["user"] is None


async def test_only_the_maker_cancels(api: Api, owner: Staff) -> None:
    engineer, other_engineer = await api.user(Role.ENGINEER), await api.user(Role.ENGINEER)
    request = await propose_enrolment(api, engineer)

    by_other = await api.post(CANCEL, {"id": request["id"]}, token=other_engineer.token)
    by_owner = await api.error_code(CANCEL, {"id": request["id"]}, token=owner.token)
    by_maker = (await api.data(CANCEL, {"id": request["id"]}, token=engineer.token))["cancelRequest"]

    assert codes(by_other["data"]["cancelRequest"]) == ["NOT_FOUND"]  # not theirs to see
    assert by_owner == "FORBIDDEN"
    assert by_maker["approvalRequest"]["status"] == "CANCELLED"


async def test_requests_are_listed_to_their_maker_and_to_who_may_decide(api: Api, owner: Staff) -> None:
    engineer, other_engineer, manager = (
        await api.user(Role.ENGINEER), await api.user(Role.ENGINEER), await api.user(Role.MANAGER)
    )  # fmt: skip
    enrolment = await propose_enrolment(api, engineer)
    deletion = (await api.data(DELETE, {"id": other_engineer.id}, token=manager.token))["deleteUser"][
        "approvalRequest"
    ]

    def ids(data: dict[str, Any]) -> list[str]:
        return [edge["node"]["id"] for edge in data["approvalRequests"]["edges"]]

    assert ids(await api.data(LIST, token=owner.token)) == [deletion["id"], enrolment["id"]]
    assert ids(await api.data(LIST, token=manager.token)) == [deletion["id"], enrolment["id"]]
    assert ids(await api.data(LIST, token=engineer.token)) == [enrolment["id"]]
    assert ids(await api.data(LIST, token=other_engineer.token)) == []


async def test_two_checkers_approving_at_once_apply_the_change_once(api: Api, owner: Staff) -> None:
    engineer, manager = await api.user(Role.ENGINEER), await api.user(Role.MANAGER)
    ada = await api.user(Role.USER, points_balance=5)
    add = {"input": {"accountId": ada.account_id, "action": "ADD", "amount": 10}}
    request = (await api.data(ADJUST_OR_PROPOSE, add, token=engineer.token))["adjustPoints"][
        "approvalRequest"
    ]

    results = await asyncio.gather(
        api.data(APPROVE, {"id": request["id"]}, token=owner.token),
        api.data(APPROVE, {"id": request["id"]}, token=manager.token),
    )

    outcomes = sorted(codes(result["approveRequest"]) for result in results)
    assert outcomes == [[], ["ALREADY_DECIDED"]]
    assert await balance(api, owner.token, ada.account_id) == 15


async def test_every_step_is_in_the_activity_log(api: Api, owner: Staff) -> None:
    engineer = await api.user(Role.ENGINEER)
    request = await propose_enrolment(api, engineer)
    await api.data(APPROVE, {"id": request["id"]}, token=owner.token)

    await api.services.shipper.drain()
    logs = await api.data("{ logs { edges { node { action outcome actorId } } } }", token=owner.token)

    assert [edge["node"] for edge in logs["logs"]["edges"]] == [
        {"action": "approval.approve", "outcome": "SUCCESS", "actorId": owner.id},
        {"action": "approval.request", "outcome": "SUCCESS", "actorId": engineer.id},
    ]


async def test_a_proposal_never_carries_a_password(api: Api, owner: Staff) -> None:
    product_manager = await api.user(Role.PRODUCT_MANAGER)
    staff = {"email": "mel@example.com", "firstName": "Mel", "lastName": "M", "role": "MANAGER"}

    refused = (
        await api.data(
            ENROLL, {"input": staff | {"password": "chosen by the maker 1"}}, token=product_manager.token
        )
    )["enrollUser"]
    listed = await api.data(LIST, {"status": "PENDING"}, token=owner.token)

    assert refused["errors"] == [{"code": "VALIDATION", "field": "input.password"}]
    assert refused["approvalRequest"] is None
    assert listed["approvalRequests"]["edges"] == []


async def test_a_proposed_enrolment_without_a_password_shows_every_field_and_applies(
    api: Api, owner: Staff
) -> None:
    product_manager = await api.user(Role.PRODUCT_MANAGER)
    staff = {"email": "mel@example.com", "firstName": "Mel", "lastName": "M", "role": "MANAGER"}

    request = (await api.data(ENROLL, {"input": staff | {"initialPoints": 7}}, token=product_manager.token))[
        "enrollUser"
    ]["approvalRequest"]
    approved = (await api.data(APPROVE, {"id": request["id"]}, token=owner.token))["approveRequest"]

    assert request["change"] == staff | {"initialPoints": 7}
    assert approved["errors"] == []
    assert (await api.data(USER, {"id": request["targetId"]}, token=owner.token))["user"]["role"] == "MANAGER"


async def test_a_retried_proposal_returns_the_first_request(api: Api, owner: Staff) -> None:
    engineer, ada = await api.user(Role.ENGINEER), await api.user(Role.USER)
    add = {"input": {"accountId": ada.account_id, "action": "ADD", "amount": 10, "idempotencyKey": "t-1"}}

    first, *retries = await asyncio.gather(
        *(api.data(ADJUST_OR_PROPOSE, add, token=engineer.token) for _ in range(5))
    )
    listed = await api.data(LIST, {"status": "PENDING"}, token=owner.token)

    requests = [result["adjustPoints"]["approvalRequest"] for result in (first, *retries)]
    assert all(result["adjustPoints"]["errors"] == [] for result in (first, *retries))
    assert {request["id"] for request in requests} == {
        edge["node"]["id"] for edge in listed["approvalRequests"]["edges"]
    }
    assert len(listed["approvalRequests"]["edges"]) == 1
    assert requests[0]["change"] == {"action": "ADD", "amount": 10, "reason": None, "idempotencyKey": "t-1"}


async def test_a_proposal_key_reused_for_another_change_is_an_idempotency_mismatch(
    api: Api, owner: Staff
) -> None:
    engineer, ada = await api.user(Role.ENGINEER), await api.user(Role.USER)
    add = {"accountId": ada.account_id, "action": "ADD", "amount": 10, "idempotencyKey": "t-1"}
    await api.data(ADJUST_OR_PROPOSE, {"input": add}, token=engineer.token)

    reused = (await api.data(ADJUST_OR_PROPOSE, {"input": add | {"amount": 11}}, token=engineer.token))[
        "adjustPoints"
    ]
    other_maker = (
        await api.data(ADJUST_OR_PROPOSE, {"input": add}, token=(await api.user(Role.ENGINEER)).token)
    )["adjustPoints"]
    listed = await api.data(LIST, {"status": "PENDING"}, token=owner.token)

    assert reused["errors"] == [{"code": "IDEMPOTENCY_MISMATCH", "field": "input.idempotencyKey"}]
    assert reused["approvalRequest"] is None
    assert other_maker["errors"] == []  # keys belong to their maker
    assert len(listed["approvalRequests"]["edges"]) == 2
