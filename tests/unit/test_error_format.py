"""How errors leave the server: codes and messages, never internals."""

from __future__ import annotations

import sqlalchemy.exc
from graphql import GraphQLError, located_error

from loyalty.web.errors import INTERNAL_MESSAGE, format_error


def resolver_error(original: Exception) -> GraphQLError:
    return located_error(original, None, ["adjustPoints"])


def test_a_lost_database_connection_is_service_unavailable_not_internal() -> None:
    lost = sqlalchemy.exc.InterfaceError("UPDATE points_accounts …", {}, Exception("connection is closed"))

    formatted = format_error(resolver_error(lost), "req-1")

    assert formatted["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert "UPDATE" not in formatted["message"]
    assert formatted["path"] == ["adjustPoints"]


def test_any_other_failure_is_internal_and_masked() -> None:
    formatted = format_error(resolver_error(ValueError("secret detail")), "req-1")

    assert formatted["extensions"]["code"] == "INTERNAL"
    assert formatted["message"] == INTERNAL_MESSAGE
