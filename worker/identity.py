"""Proven identity: who sends a command proves it with a token the worker verifies.

The web app, which signs people in, is the only issuer. It holds an Ed25519
signing key (EARLYHELP_SIGNING_KEY); workers and the codec server hold only
its public half (EARLYHELP_VERIFY_KEY), so no worker or laptop can mint one.

- A **login token** (audience `earlyhelp-web`, 12 hours) is what `earlyhelp
  login` keeps (mode 0600): it can do nothing by itself but ask the web app
  for command tokens.
- A **command token** (audience `earlyhelp-worker`, 2 minutes) is bound to
  one command: the case's workflow id, the update's name, its update id and a
  SHA-256 of the command's payload. A captured one cannot be replayed for
  another command, and the same update id is recorded once by Temporal.

Clients put the command token in the update's `earlyhelp-identity` header
(`SignCommands`, a client interceptor); the worker's interceptor
(worker/authz.py) verifies it in the validator stage, so a refused command
writes nothing, and checks that its subject is the command's `by`.
"""

from __future__ import annotations

import base64
import contextvars
import hashlib
import hmac
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from temporalio import client
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import PayloadConverter
from temporalio.exceptions import ApplicationError

from worker.config import ConfigError

HEADER = "earlyhelp-identity"
ISSUER = "earlyhelp"
WEB, WORKER = "earlyhelp-web", "earlyhelp-worker"
LOGIN_TTL = timedelta(hours=12)
COMMAND_TTL = timedelta(minutes=2)
LEEWAY = timedelta(seconds=30)  # clock skew between the web app and the worker's server


class NotAuthenticated(ApplicationError):
    """The command's sender is not proven (no token, a bad one, or one for someone or something else)."""

    def __init__(self, why: str) -> None:
        super().__init__(f"not_authenticated: {why}", type="NotAuthenticated", non_retryable=True)


def payload_hash(payload: Payload) -> str:
    """What a command token is bound to: the command exactly as the worker receives it."""
    return base64.urlsafe_b64encode(hashlib.sha256(payload.data).digest()).decode().rstrip("=")


@dataclass(frozen=True)
class Binding:
    """The one command a token is for."""

    workflow_id: str
    update: str
    update_id: str
    sha: str


def new_key_pair(folder: Path) -> tuple[Path, Path]:
    """An Ed25519 signing key and its public half, as PEM files (mode 0600 for the private one)."""
    key = Ed25519PrivateKey.generate()
    private, public = folder / "signing-key.pem", folder / "verify-key.pem"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    private.chmod(0o600)
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private, public


def _load(path: Path, variable: str, private: bool) -> Any:
    try:
        data = path.read_bytes()
        key = serialization.load_pem_private_key(data, None) if private else serialization.load_pem_public_key(data)
    except (OSError, ValueError, TypeError) as e:
        raise ConfigError(variable, f"cannot read an Ed25519 key from {path}: {e}") from None
    if not isinstance(key, Ed25519PrivateKey if private else Ed25519PublicKey):
        raise ConfigError(variable, f"{path} is not an Ed25519 key")
    return key


class Signer:
    """The web app's side: issues login and command tokens."""

    def __init__(self, key: Ed25519PrivateKey, issuer: str = ISSUER) -> None:
        self.key, self.issuer = key, issuer

    @classmethod
    def from_file(cls, path: Path, issuer: str = ISSUER) -> Signer:
        return cls(_load(path, "EARLYHELP_SIGNING_KEY", private=True), issuer)

    def _sign(self, claims: dict[str, Any], audience: str, ttl: timedelta, now: datetime) -> str:
        body = {
            "iss": self.issuer,
            "aud": audience,
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "jti": uuid.uuid4().hex,
            **claims,
        }
        return jwt.encode(body, self.key, algorithm="EdDSA")

    def derived_secret(self, purpose: str) -> bytes:
        """A secret for `purpose` only the holder of the signing key can know (e.g. sealing web sessions)."""
        raw = self.key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return hmac.new(raw, f"earlyhelp {purpose}".encode(), hashlib.sha256).digest()

    def login_token(self, person: str, now: datetime) -> str:
        return self._sign({"sub": person}, WEB, LOGIN_TTL, now)

    def command_token(self, person: str, binding: Binding, now: datetime) -> str:
        return self._sign(
            {
                "sub": person,
                "wid": binding.workflow_id,
                "upd": binding.update,
                "uid": binding.update_id,
                "sha": binding.sha,
            },
            WORKER,
            COMMAND_TTL,
            now,
        )


class Verifier:
    """The worker's and codec server's side: checks signature, issuer, audience, expiry and binding."""

    def __init__(self, key: Ed25519PublicKey, issuer: str = ISSUER) -> None:
        self.key, self.issuer = key, issuer
        _warm_up()

    @classmethod
    def from_file(cls, path: Path, issuer: str = ISSUER) -> Verifier:
        return cls(_load(path, "EARLYHELP_VERIFY_KEY", private=False), issuer)

    def _claims(self, token: str, audience: str, now: datetime) -> dict[str, Any]:
        try:
            # Expiry against `now` (the workflow's time in a validator: deterministic, no wall clock).
            claims = jwt.decode(
                token,
                self.key,
                algorithms=["EdDSA"],
                audience=audience,
                issuer=self.issuer,
                options={"verify_exp": False, "verify_iat": False, "require": ["exp", "sub"]},
            )
        except jwt.InvalidTokenError as e:
            raise NotAuthenticated(f"the identity token is not valid ({e})") from None
        if now.timestamp() > claims["exp"] + LEEWAY.total_seconds():
            raise NotAuthenticated("the identity token has expired: sign in again (earlyhelp login)")
        if not isinstance(claims["sub"], str):
            raise NotAuthenticated("the identity token names nobody")
        return claims

    def login(self, token: str, now: datetime) -> str:
        """The person a login token is for."""
        return self._claims(token, WEB, now)["sub"]

    def command(self, token: str, binding: Binding, now: datetime) -> str:
        """The person who sent this command, proven; raises NotAuthenticated otherwise."""
        claims = self._claims(token, WORKER, now)
        bound = Binding(claims.get("wid", ""), claims.get("upd", ""), claims.get("uid", ""), claims.get("sha", ""))
        if bound != binding:
            raise NotAuthenticated(
                "the identity token was issued for another command (a token is bound to one "
                "case, update, update id and payload)"
            )
        return claims["sub"]


def _warm_up() -> None:
    """Verify once, well and badly, outside the workflow sandbox: cryptography imports its exception types
    lazily from Rust on first use, and an import from inside the sandbox aborts the process."""
    key = Ed25519PrivateKey.generate()
    token = jwt.encode({"sub": "warm-up"}, key, algorithm="EdDSA")
    jwt.decode(token, key.public_key(), algorithms=["EdDSA"])
    try:
        jwt.decode(token, Ed25519PrivateKey.generate().public_key(), algorithms=["EdDSA"])
    except jwt.InvalidSignatureError:
        pass


def token_from(headers: Any, converter: PayloadConverter = pydantic_data_converter.payload_converter) -> str | None:
    payload = headers.get(HEADER) if headers else None
    if payload is None:
        return None
    try:
        token = converter.from_payload(payload, str)
    except Exception:
        return None
    return token if isinstance(token, str) else None


# --- the client side: every update carries a command token ------------------------------------

# Who the web app is acting for in this request (set by the request handler, read by SignCommands).
acting_for: contextvars.ContextVar[str | None] = contextvars.ContextVar("acting_for", default=None)

Mint = Callable[[Binding], Awaitable[str | None]]


def local_mint(signer: Signer, clock: Callable[[], datetime]) -> Mint:
    """For the web app: sign for the person the current request acts for."""

    async def mint(binding: Binding) -> str | None:
        person = acting_for.get()
        return signer.command_token(person, binding, clock()) if person else None

    return mint


class SignCommands(client.Interceptor):
    """Gives every update an update id (if it has none) and a command token bound to it."""

    def __init__(self, mint: Mint, converter: PayloadConverter = pydantic_data_converter.payload_converter) -> None:
        self.mint, self.converter = mint, converter

    def intercept_client(self, next: client.OutboundInterceptor) -> client.OutboundInterceptor:
        return _Outbound(next, self)


class _Outbound(client.OutboundInterceptor):
    def __init__(self, next: client.OutboundInterceptor, owner: SignCommands) -> None:
        super().__init__(next)
        self.owner = owner

    async def start_workflow_update(self, input: client.StartWorkflowUpdateInput) -> client.WorkflowUpdateHandle[Any]:
        update_id = input.update_id or uuid.uuid4().hex
        payloads = self.owner.converter.to_payloads(input.args)
        sha = payload_hash(payloads[0]) if payloads else ""
        token = await self.owner.mint(Binding(input.id, input.update, update_id, sha))
        headers = dict(input.headers)
        if token:
            headers[HEADER] = self.owner.converter.to_payloads([token])[0]
        return await super().start_workflow_update(replace(input, update_id=update_id, headers=headers))
