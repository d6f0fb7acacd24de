"""Sign-in with the council's identity provider (OpenID Connect, authorization code flow with PKCE).

Configured by EARLYHELP_OIDC_ISSUER, EARLYHELP_OIDC_CLIENT_ID and
EARLYHELP_OIDC_CLIENT_SECRET. The provider's user is mapped to a staff id by
the roles file's [oidc] table (the value of EARLYHELP_OIDC_CLAIM, `email` by
default, to a staff id): the provider proves who the person is, the roles
file what they may do. authlib makes the authorization request and exchanges
the code; the ID token's signature, issuer, audience, expiry and nonce are
checked with the provider's published keys (pyjwt).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import httpx2
import jwt
from aiohttp import web
from aiohttp_session import get_session
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from worker.authz import Roles
from worker.config import Config

CALLBACK = "/sign-in/oidc/callback"
SIGNED_BY_PROVIDER = ["RS256", "PS256", "ES256", "EdDSA"]  # never "none" or a shared secret


NOT_ANSWERING = "The council's sign-in service did not answer as expected: try again, or sign in with a password."


class OidcRefused(Exception):
    """Sign-in with the provider did not prove a person of the service: said on the sign-in page."""


@dataclass(frozen=True)
class Provider:
    issuer: str
    client_id: str
    client_secret: str
    claim: str = "email"

    @classmethod
    def from_config(cls, config: Config) -> Provider | None:
        if not config.oidc_issuer:
            return None
        return cls(
            config.oidc_issuer.rstrip("/"),
            config.oidc_client_id or "",
            config.oidc_client_secret or "",
            config.oidc_claim,
        )

    def client(self, redirect_uri: str) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            self.client_id, self.client_secret, scope="openid email profile", redirect_uri=redirect_uri, timeout=15
        )

    async def metadata(self, http: AsyncOAuth2Client) -> dict[str, Any]:
        answer = await http.request("GET", self.issuer + "/.well-known/openid-configuration", withhold_token=True)
        answer.raise_for_status()
        return answer.json()


def callback_url(request: web.Request) -> str:
    return str(request.url.with_path(CALLBACK).with_query(None))


async def begin(request: web.Request, provider: Provider, next_path: str) -> str:
    """Where to send the browser at the provider, remembering (in the server-side session) what must come back."""
    session = await get_session(request)
    state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    session["oidc"] = {"state": state, "nonce": nonce, "verifier": verifier, "next": next_path}
    try:
        async with provider.client(callback_url(request)) as http:
            meta = await provider.metadata(http)
            url, _ = http.create_authorization_url(
                meta["authorization_endpoint"],
                state=state,
                nonce=nonce,
                code_challenge=create_s256_code_challenge(verifier),
                code_challenge_method="S256",
            )
    except (httpx2.HTTPError, KeyError, ValueError):
        raise OidcRefused(NOT_ANSWERING) from None
    return url


async def finish(request: web.Request, provider: Provider, roles: Roles) -> tuple[str, str]:
    """The staff id the provider's answer proves, and where to go next."""
    try:
        return await _finish(request, provider, roles)
    except (httpx2.HTTPError, OAuthError, KeyError, ValueError):
        raise OidcRefused(NOT_ANSWERING) from None


async def _finish(request: web.Request, provider: Provider, roles: Roles) -> tuple[str, str]:
    session = await get_session(request)
    pending = session.pop("oidc", None)
    if not pending or request.query.get("state") != pending["state"]:
        raise OidcRefused("That sign-in has expired or was not started here: sign in again.")
    if "error" in request.query:
        raise OidcRefused("Your council account did not sign you in.")
    async with provider.client(callback_url(request)) as http:
        meta = await provider.metadata(http)
        token = await http.fetch_token(
            meta["token_endpoint"], code=request.query.get("code", ""), code_verifier=pending["verifier"]
        )
        keys = (await http.request("GET", meta["jwks_uri"], withhold_token=True)).json()
    claims = verified_id_token(token.get("id_token", ""), keys, provider, pending["nonce"])
    if provider.claim == "email" and claims.get("email_verified") is not True:
        # An address the provider has not verified could be anyone's: a council account may set its own.
        raise OidcRefused(
            "Your council account's email address is not verified by the council's sign-in: ask IT "
            "(a service without verified addresses maps another claim: EARLYHELP_OIDC_CLAIM)."
        )
    person = roles.oidc.get(str(claims.get(provider.claim, "")))
    if person is None or not roles.people.get(person):
        raise OidcRefused("Your council account is not linked to a staff id of this service: ask your manager.")
    return person, pending["next"]


def verified_id_token(id_token: str, jwks: dict[str, Any], provider: Provider, nonce: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(id_token)
        published = jwt.PyJWKSet.from_dict(jwks).keys
        # By its key id; a provider with one key may leave the id out.
        key = next((k for k in published if k.key_id == header.get("kid")), None)
        if key is None and "kid" not in header and len(published) == 1:
            key = published[0]
        if key is None:
            raise OidcRefused("The provider's ID token is signed with a key it does not publish.")
        claims = jwt.decode(
            id_token,
            key,
            algorithms=SIGNED_BY_PROVIDER,
            audience=provider.client_id,
            issuer=provider.issuer,
            options={"require": ["exp", "iat", "sub"]},
        )
    except jwt.PyJWTError as e:
        raise OidcRefused(f"The provider's ID token was not valid ({type(e).__name__}).") from None
    if claims.get("nonce") != nonce:
        raise OidcRefused("The provider's ID token was not for this sign-in.")
    return claims
