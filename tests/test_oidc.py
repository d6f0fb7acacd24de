"""The council sign-in's ID token checks (web/oidc.py): signature by a published key, issuer, audience,
expiry and the sign-in's nonce; never an unsigned token. (The whole flow, in Chromium: tests/e2e/test_web_oidc.py.)"""

from __future__ import annotations

import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from web.oidc import OidcRefused, Provider, verified_id_token

PROVIDER = Provider("https://login.council.example", "earlyhelp-web", "secret")
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)
JWKS = {"keys": [{**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key())), "kid": "k1"}]}


def token(key=KEY, kid: str = "k1", alg: str = "RS256", **changes) -> str:
    now = int(time.time())
    claims = {
        "iss": PROVIDER.issuer,
        "aud": PROVIDER.client_id,
        "sub": "u1",
        "email": "jo@council.example",
        "iat": now,
        "exp": now + 300,
        "nonce": "n1",
        **changes,
    }
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def test_a_token_signed_by_the_providers_published_key_for_this_sign_in_is_accepted():
    assert verified_id_token(token(), JWKS, PROVIDER, "n1")["email"] == "jo@council.example"


@pytest.mark.parametrize(
    "bad",
    [
        {"key": OTHER},
        {"kid": "unpublished"},
        {"iss": "https://evil.example"},
        {"aud": "another-app"},
        {"exp": int(time.time()) - 60},
        {"nonce": "another sign-in"},
    ],
    ids=["other key", "unpublished key", "other issuer", "other audience", "expired", "other nonce"],
)
def test_a_token_not_proving_this_sign_in_is_refused(bad: dict):
    with pytest.raises(OidcRefused):
        verified_id_token(token(**bad), JWKS, PROVIDER, "n1")


def test_an_unsigned_token_is_refused():
    unsigned = jwt.encode(
        {
            "iss": PROVIDER.issuer,
            "aud": PROVIDER.client_id,
            "sub": "u1",
            "nonce": "n1",
            "iat": int(time.time()),
            "exp": int(time.time()) + 300,
        },
        None,
        algorithm="none",
        headers={"kid": "k1"},
    )
    with pytest.raises(OidcRefused):
        verified_id_token(unsigned, JWKS, PROVIDER, "n1")
