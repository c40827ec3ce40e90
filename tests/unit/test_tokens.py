"""Access tokens: what TokenIssuer accepts and refuses, and where its signing key comes from."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from loyalty.auth.tokens import AUDIENCE, InvalidToken, TokenIssuer, load_signing_key

ISSUER = "https://loyalty.example.com"
TTL = 900
KEY = RSAKey.generate_key(2048, private=True)
OTHER_KEY = RSAKey.generate_key(2048, private=True)
SUBJECT = "5f0c8a4e-6a43-4f9b-9d55-1c0f4a1b2c3d"


def issuer() -> TokenIssuer:
    return TokenIssuer(KEY, issuer=ISSUER, access_ttl_seconds=TTL)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value).encode())


def valid_claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": SUBJECT,
        "iat": now,
        "nbf": now,
        "exp": now + TTL,
        "jti": "a-token-id",
        "token_use": "access",
    }
    claims.update(changes)
    return claims


def signed(claims: dict[str, Any], *, key: RSAKey = KEY, kid: str | None = None) -> str:
    header = {"alg": "RS256", "kid": kid or key.thumbprint(), "typ": "JWT"}
    return jwt.encode(header, claims, key)


def unsigned() -> str:
    header = {"alg": "none", "kid": KEY.thumbprint(), "typ": "JWT"}
    return f"{segment(header)}.{segment(valid_claims())}."


def hs256_with_public_key_as_secret() -> str:
    """The algorithm-confusion attack: HMAC keyed with the (public) RSA key's PEM."""
    header = {"alg": "HS256", "kid": KEY.thumbprint(), "typ": "JWT"}
    signing_input = f"{segment(header)}.{segment(valid_claims())}"
    secret = KEY.as_pem(private=False)
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def tampered() -> str:
    header, _payload, signature = issuer().issue_access_token(SUBJECT).split(".")
    return f"{header}.{segment(valid_claims(sub='someone-else'))}.{signature}"


def without_token_use() -> str:
    claims = valid_claims()
    del claims["token_use"]
    return signed(claims)


FORGED_OR_FOREIGN = {
    "alg none": unsigned,
    "HS256 keyed with the public key PEM": hs256_with_public_key_as_secret,
    "expired": lambda: signed(valid_claims(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)),
    "wrong issuer": lambda: signed(valid_claims(iss="https://evil.example.com")),
    "wrong audience": lambda: signed(valid_claims(aud="another-api")),
    "no subject": lambda: signed({k: v for k, v in valid_claims().items() if k != "sub"}),
    "tampered payload": tampered,
    "signed by another key": lambda: signed(valid_claims(), key=OTHER_KEY),
    "our key under an unknown kid": lambda: signed(valid_claims(), kid=OTHER_KEY.thumbprint()),
    "not an access token": lambda: signed(valid_claims(token_use="refresh")),
    "without token_use": without_token_use,
    "not a JWT": lambda: "not-a-jwt",
    "empty": lambda: "",
}


def test_an_issued_token_round_trips() -> None:
    tokens = issuer()

    verified = tokens.verify_access_token(tokens.issue_access_token(SUBJECT))

    assert verified.subject == SUBJECT
    assert verified.claims["iss"] == ISSUER
    assert verified.claims["aud"] == AUDIENCE
    assert verified.claims["token_use"] == "access"
    assert verified.claims["exp"] - verified.claims["iat"] == TTL


def test_an_issued_token_names_its_key_by_thumbprint() -> None:
    token = issuer().issue_access_token(SUBJECT)

    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))

    assert header == {"alg": "RS256", "kid": KEY.thumbprint(), "typ": "JWT"}


def test_the_published_key_set_holds_only_the_public_key() -> None:
    [published] = issuer().jwks()["keys"]

    assert published["kid"] == KEY.thumbprint() == RSAKey.import_key(published).thumbprint()
    assert published["alg"] == "RS256"
    assert "d" not in published


@pytest.mark.parametrize("make_token", FORGED_OR_FOREIGN.values(), ids=FORGED_OR_FOREIGN.keys())
def test_forged_or_foreign_tokens_are_rejected(make_token: Any) -> None:
    token = make_token()

    with pytest.raises(InvalidToken):
        issuer().verify_access_token(token)


def test_a_token_from_another_issuer_instance_with_another_key_is_rejected() -> None:
    other = TokenIssuer(OTHER_KEY, issuer=ISSUER, access_ttl_seconds=TTL)

    with pytest.raises(InvalidToken):
        issuer().verify_access_token(other.issue_access_token(SUBJECT))


# --- load_signing_key ----------------------------------------------------------------------------


def test_without_configuration_a_key_is_generated_once_into_the_data_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"

    first = load_signing_key(None, data_dir)
    second = load_signing_key(None, data_dir)

    [key_file] = data_dir.iterdir()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first.is_private
    assert second.thumbprint() == first.thumbprint()


def test_a_configured_pem_text_is_used(tmp_path: Path) -> None:
    pem = KEY.as_pem(private=True).decode()

    key = load_signing_key(pem, tmp_path)

    assert key.thumbprint() == KEY.thumbprint()
    assert list(tmp_path.iterdir()) == []  # nothing generated


def test_a_configured_file_path_is_read(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    path.write_bytes(KEY.as_pem(private=True))
    data_dir = tmp_path / "data"

    key = load_signing_key(str(path), data_dir)

    assert key.thumbprint() == KEY.thumbprint()
    assert not data_dir.exists()


def test_a_public_key_is_refused(tmp_path: Path) -> None:
    pem = KEY.as_pem(private=False).decode()

    with pytest.raises(ValueError, match="public key"):
        load_signing_key(pem, tmp_path)
