"""Staff signed in through an external OpenID Connect issuer (Cognito) use the API with its tokens."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import sqlalchemy as sa
from joserfc.jwk import RSAKey

from loyalty.app import create_app
from loyalty.auth.permissions import Role
from loyalty.config import Settings
from loyalty.datasources.tables import users
from loyalty.services.container import Services
from tests.conftest import Api
from tests.test_oidc import CLIENT_ID, FakeIssuer

ME = "{ me { email role } }"
SUBJECT = "5f1d1a6e-0c53-4b2a-9f7e-2a1c3b4d5e6f"  # FakeIssuer's tokens' sub


async def linked_identity(api: Api, user_id: str) -> tuple[str | None, str | None]:
    async with api.services.db.read() as conn:
        row = (
            await conn.execute(
                sa.select(users.c.external_issuer, users.c.external_subject).where(
                    users.c.id == uuid.UUID(user_id)
                )
            )
        ).one()
    return row[0], row[1]


@pytest.fixture(scope="module")
def cognito() -> Iterator[FakeIssuer]:
    issuer = FakeIssuer()
    issuer.start()
    issuer.reset(RSAKey.generate_key(2048, parameters={"kid": "cognito-1", "alg": "RS256", "use": "sig"}))
    yield issuer
    issuer.stop()


async def api_with(services: Services, settings: Settings, cognito: FakeIssuer, **options: object) -> Api:
    configured = Settings(
        **settings.model_dump() | {"oidc_issuer": cognito.issuer, "oidc_audience": CLIENT_ID, **options}
    )
    oidc_services = Services.build(configured)
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(configured, services=oidc_services)),
        base_url="http://testserver",
    )
    return Api(client, oidc_services)


@pytest.fixture
async def oidc_api(services: Services, settings: Settings, cognito: FakeIssuer) -> AsyncIterator[Api]:
    api = await api_with(services, settings, cognito)
    yield api
    await api.client.aclose()
    await api.services.close()


@pytest.fixture
async def claim_roles_api(services: Services, settings: Settings, cognito: FakeIssuer) -> AsyncIterator[Api]:
    api = await api_with(services, settings, cognito, oidc_role_from_claim=True)
    yield api
    await api.client.aclose()
    await api.services.close()


def cognito_token(cognito: FakeIssuer, **claims: object) -> str:
    return cognito.token(cognito.keys[0], claims)


async def test_a_staff_member_is_matched_by_email_and_keeps_the_role_of_their_row(
    oidc_api: Api, cognito: FakeIssuer
) -> None:
    await oidc_api.user(Role.ENGINEER, email="ann@example.com")

    data = await oidc_api.data(ME, token=cognito_token(cognito, email="Ann@Example.com"))

    assert data["me"] == {"email": "ann@example.com", "role": "ENGINEER"}


async def test_a_cognito_access_token_works_once_an_id_token_linked_its_subject(
    oidc_api: Api, cognito: FakeIssuer
) -> None:
    ann = await oidc_api.user(Role.MANAGER, email="ann@example.com")
    access_token = cognito.access_token(cognito.keys[0])

    before = await oidc_api.error_code(ME, token=access_token)
    await oidc_api.data(ME, token=cognito_token(cognito))  # a verified email links the subject
    after = await oidc_api.data(ME, token=access_token)

    assert before == "UNAUTHENTICATED"
    assert after["me"] == {"email": "ann@example.com", "role": "MANAGER"}
    assert await linked_identity(oidc_api, ann.id) == (cognito.issuer, SUBJECT)


async def test_linking_an_identity_is_logged_once_as_a_change_to_the_user(
    oidc_api: Api, cognito: FakeIssuer
) -> None:
    ann = await oidc_api.user(Role.OWNER, email="ann@example.com")

    for _ in range(2):
        await oidc_api.data(ME, token=cognito_token(cognito))
    data = await oidc_api.data(
        '{ logs(filter: {action: "auth.identity_link"}) { edges { node { actorId targetId outcome details } } } }',
        token=ann.token,
    )

    [entry] = [edge["node"] for edge in data["logs"]["edges"]]
    assert entry["actorId"] == entry["targetId"] == ann.id
    assert entry["outcome"] == "SUCCESS"
    assert entry["details"] == {"after": {"issuer": cognito.issuer, "subject": SUBJECT}}


async def test_a_username_spelling_a_staff_email_never_signs_in_as_them(
    oidc_api: Api, cognito: FakeIssuer
) -> None:
    await oidc_api.user(Role.OWNER, email="owner@example.com")
    # Someone else in a pool with free-form usernames, calling themselves the owner.
    impostor = {
        "sub": str(uuid.uuid4()),
        "username": "owner@example.com",
        "cognito:username": "owner@example.com",
    }

    access = await oidc_api.error_code(ME, token=cognito.access_token(cognito.keys[0], impostor))
    unverified_id = await oidc_api.error_code(
        ME, token=cognito_token(cognito, email="owner@example.com", email_verified=None, **impostor)
    )

    assert access == unverified_id == "UNAUTHENTICATED"


async def test_a_linked_staff_member_is_found_by_subject_after_an_email_change(
    oidc_api: Api, cognito: FakeIssuer
) -> None:
    ann = await oidc_api.user(Role.ENGINEER, email="ann@example.com")
    await oidc_api.data(ME, token=cognito_token(cognito))
    async with oidc_api.services.db.transaction() as conn:
        await conn.execute(
            users.update().where(users.c.id == uuid.UUID(ann.id)).values(email="ann@new.example")
        )

    data = await oidc_api.data(ME, token=cognito_token(cognito, email="someone-else@example.com"))

    assert data["me"] == {"email": "ann@new.example", "role": "ENGINEER"}


async def test_a_staff_member_linked_to_one_subject_is_not_taken_by_another_with_the_same_email(
    oidc_api: Api, cognito: FakeIssuer
) -> None:
    ann = await oidc_api.user(Role.MANAGER, email="ann@example.com")
    await oidc_api.data(ME, token=cognito_token(cognito))

    code = await oidc_api.error_code(ME, token=cognito_token(cognito, sub=str(uuid.uuid4())))

    assert code == "UNAUTHENTICATED"
    assert await linked_identity(oidc_api, ann.id) == (cognito.issuer, SUBJECT)


async def test_the_role_comes_from_the_claim_when_so_configured(
    claim_roles_api: Api, cognito: FakeIssuer
) -> None:
    api = claim_roles_api
    await api.user(Role.ENGINEER, email="ann@example.com")
    token = cognito_token(cognito, **{"cognito:groups": ["staff", "manager"]})

    me = await api.data(ME, token=token)
    enrolled = await api.data(
        'mutation { enrollUser(input: {email: "c@example.com", firstName: "C", lastName: "D"}) { errors { code } } }',
        token=token,
    )

    assert me["me"]["role"] == "MANAGER"
    assert enrolled["enrollUser"]["errors"] == []


async def test_a_claim_that_names_no_staff_role_is_refused(claim_roles_api: Api, cognito: FakeIssuer) -> None:
    await claim_roles_api.user(Role.MANAGER, email="ann@example.com")

    code = await claim_roles_api.error_code(
        ME, token=cognito_token(cognito, **{"cognito:groups": ["admins"]})
    )

    assert code == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("case", "claims"),
    [
        ("no user has the email", {"email": "nobody@example.com"}),
        ("the email is not verified", {"email_verified": False}),
        ("the audience is another app's", {"aud": "another-app"}),
        ("the token has expired", {"exp": 1_000_000_000}),
    ],
)
async def test_tokens_that_match_no_staff_member_are_refused(
    oidc_api: Api, cognito: FakeIssuer, case: str, claims: dict[str, object]
) -> None:
    await oidc_api.user(Role.MANAGER, email="ann@example.com")

    assert await oidc_api.error_code(ME, token=cognito_token(cognito, **claims)) == "UNAUTHENTICATED", case


async def test_a_customer_cannot_use_an_external_identity(oidc_api: Api, cognito: FakeIssuer) -> None:
    await oidc_api.user(Role.USER, email="ann@example.com")

    assert await oidc_api.error_code(ME, token=cognito_token(cognito)) == "UNAUTHENTICATED"


async def test_our_own_tokens_keep_working_beside_the_external_issuer(oidc_api: Api) -> None:
    owner = await oidc_api.user(Role.OWNER, email="boss@example.com")

    assert (await oidc_api.data(ME, token=owner.token))["me"] == {
        "email": "boss@example.com",
        "role": "OWNER",
    }
