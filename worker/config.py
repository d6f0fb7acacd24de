"""Configuration from the environment, with documented defaults.

Every setting has one environment variable (ENV below); a wrong value or an
unreachable server is reported as a ConfigError naming that variable.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class ConfigError(Exception):
    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


class Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    temporal_address: str = "localhost:7233"
    namespace: str = Field("default", min_length=1)
    task_queue: str = Field("early-help", min_length=1)
    database_url: str = "postgresql://postgres@localhost:5432/postgres"
    # For a remote cluster: mTLS files, or an API key (TLS on).
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None
    api_key: str | None = None
    # Prometheus metrics from the SDK runtime on this port; 0 turns them off.
    metrics_port: Annotated[int, Field(ge=0, le=65535)] = 9464
    log_level: str = "info"
    # Workflows kept in worker memory: bounds memory whatever the number of open cases.
    max_cached_cases: Annotated[int, Field(ge=0)] = 500
    # Seconds in-flight activities get to finish on SIGTERM/SIGINT.
    shutdown_grace_seconds: Annotated[float, Field(ge=0)] = 30.0
    # Seconds a starting worker or web app keeps retrying Temporal and PostgreSQL before it gives up.
    startup_seconds: Annotated[float, Field(ge=0, le=3600)] = 60.0
    # Payload encryption (worker/keys.py): a key file, or one base64 key. Unset: no encryption.
    keys_file: Path | None = None
    master_key: str | None = None
    # Who may do what (worker/authz.py): a TOML file of people and roles. Unset: the worker refuses to start,
    # unless open_demo says this is a demo where anyone of any name acts and decides closures.
    roles_file: Path | None = None
    open_demo: bool = False
    # Proven identity (worker/identity.py): the web app signs with the Ed25519 private key, workers and the
    # codec server verify with its public key. Unset verify key: a command's `by` is taken as claimed.
    signing_key: Path | None = None
    verify_key: Path | None = None
    token_issuer: str = Field("earlyhelp", min_length=1, max_length=200)
    # The codec server for the Web UI and CLI: the UI's origin, port (who may decode: a person's token).
    codec_origin: str = "http://localhost:8233"
    codec_port: Annotated[int, Field(ge=1, le=65535)] = 8081
    # For a client without master keys (the CLI on a laptop): encode and decode through this codec server
    # with the signed-in person's token (worker/remote_codec.py).
    codec_url: str | None = None
    # Council sign-in (web/oidc.py): the identity provider's issuer URL, this app's client id and secret, and
    # the ID token claim mapped to a staff id by the roles file's [oidc] table. Unset issuer: passwords only.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_claim: str = Field("email", min_length=1, max_length=100)
    # Delivery through GOV.UK Notify (activities/delivery.py): the API key (unset: nothing is sent), its base
    # URL (a local stand-in with `earlyhelp up`), and each kind of message's template id as JSON.
    # Who letters to families are from (activities/effects.py): the council's name, its address (lines separated
    # by ";") and phone; the practitioners' names come from the roles file's [staff] table.
    council_name: str = Field("", max_length=200)
    council_address: str = Field("", max_length=500)
    council_phone: str = Field("", max_length=40)
    # Retention (activities/retention.py): a closed case is reviewed when the family's youngest member reaches
    # this age, or (no date of birth recorded) this many years after it closed.
    retention_age: Annotated[int, Field(ge=18, le=120)] = 25
    retention_years_after_closure: Annotated[int, Field(ge=1, le=100)] = 6
    notify_api_key: str | None = None
    notify_url: str = "https://api.notifications.service.gov.uk"
    notify_templates: dict[str, str] = Field(default_factory=dict)
    # The local Notify stand-in's record of what it was sent (`earlyhelp up`): shown at the web app's /sent.
    notify_sent_file: Path | None = None
    # The web app (`earlyhelp web`): address and port, cookies sent over HTTPS only (sessions: PostgreSQL).
    web_host: str = "127.0.0.1"
    web_port: Annotated[int, Field(ge=1, le=65535)] = 8080
    web_secure_cookies: bool = False

    @field_validator("temporal_address")
    @classmethod
    def _host_port(cls, v: str) -> str:
        host, _, port = v.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"expected host:port, got {v!r}")
        return v

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, v: str) -> str:
        if not v.startswith(("postgresql://", "postgres://")):
            raise ValueError("expected a postgresql:// URL")
        return v

    @field_validator("notify_templates", mode="before")
    @classmethod
    def _templates(cls, v: object) -> object:
        if isinstance(v, str):  # from the environment: JSON {"reminder": "<template id>", ...}
            try:
                return json.loads(v)
            except ValueError as e:
                raise ValueError(f"expected JSON {{kind: template id}}: {e}") from None
        return v

    @field_validator("notify_api_key")
    @classmethod
    def _notify_key(cls, v: str | None) -> str | None:
        # Notify's format: {key name}-{service id (36)}-{secret (36)}
        if v is not None and (len(v) < 74 or v[-37] != "-" or v[-74] != "-"):
            raise ValueError("expected a GOV.UK Notify API key: {name}-{service id}-{secret key}")
        return v

    @field_validator("codec_url", "oidc_issuer", "notify_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {v!r}")
        return v

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        if v.lower() not in ("debug", "info", "warning", "error"):
            raise ValueError(f"expected debug, info, warning or error, got {v!r}")
        return v.lower()

    @field_validator("tls_cert", "tls_key", "tls_ca", "keys_file", "roles_file", "signing_key", "verify_key")
    @classmethod
    def _readable(cls, v: Path | None) -> Path | None:
        if v is not None and not v.is_file():
            raise ValueError(f"no such file: {v}")
        return v

    @model_validator(mode="after")
    def _cert_with_key(self) -> Config:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("a client certificate and its key go together: set both or neither")
        if self.oidc_issuer and not self.oidc_client_id:
            raise ValueError("EARLYHELP_OIDC_ISSUER needs EARLYHELP_OIDC_CLIENT_ID (and its secret) too")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        environ = os.environ if environ is None else environ
        values = {field: environ[var] for field, var in ENV.items() if environ.get(var, "") != ""}
        try:
            return cls(**values)
        except ValidationError as e:
            error = e.errors()[0]
            # A field's error names its variable; the model-level checks are of the TLS pair and OIDC's.
            pair = "EARLYHELP_OIDC_CLIENT_ID" if "OIDC" in error["msg"] else "TEMPORAL_TLS_CERT/TEMPORAL_TLS_KEY"
            variable = ENV[str(error["loc"][0])] if error["loc"] else pair
            raise ConfigError(variable, error["msg"].removeprefix("Value error, ")) from None


# The environment variable of each setting: docker-compose.yml and README.md use these names.
ENV: dict[str, str] = {
    "temporal_address": "TEMPORAL_ADDRESS",
    "namespace": "TEMPORAL_NAMESPACE",
    "task_queue": "EARLYHELP_TASK_QUEUE",
    "database_url": "DATABASE_URL",
    "tls_cert": "TEMPORAL_TLS_CERT",
    "tls_key": "TEMPORAL_TLS_KEY",
    "tls_ca": "TEMPORAL_TLS_CA",
    "api_key": "TEMPORAL_API_KEY",
    "metrics_port": "EARLYHELP_METRICS_PORT",
    "log_level": "EARLYHELP_LOG_LEVEL",
    "max_cached_cases": "EARLYHELP_MAX_CACHED_CASES",
    "shutdown_grace_seconds": "EARLYHELP_SHUTDOWN_GRACE_SECONDS",
    "startup_seconds": "EARLYHELP_STARTUP_SECONDS",
    "keys_file": "EARLYHELP_KEYS_FILE",
    "master_key": "EARLYHELP_MASTER_KEY",
    "roles_file": "EARLYHELP_ROLES_FILE",
    "open_demo": "EARLYHELP_OPEN_DEMO",
    "signing_key": "EARLYHELP_SIGNING_KEY",
    "verify_key": "EARLYHELP_VERIFY_KEY",
    "token_issuer": "EARLYHELP_TOKEN_ISSUER",
    "codec_origin": "EARLYHELP_CODEC_ORIGIN",
    "codec_port": "EARLYHELP_CODEC_PORT",
    "codec_url": "EARLYHELP_CODEC_URL",
    "oidc_issuer": "EARLYHELP_OIDC_ISSUER",
    "oidc_client_id": "EARLYHELP_OIDC_CLIENT_ID",
    "oidc_client_secret": "EARLYHELP_OIDC_CLIENT_SECRET",
    "oidc_claim": "EARLYHELP_OIDC_CLAIM",
    "council_name": "EARLYHELP_COUNCIL_NAME",
    "council_address": "EARLYHELP_COUNCIL_ADDRESS",
    "council_phone": "EARLYHELP_COUNCIL_PHONE",
    "retention_age": "EARLYHELP_RETENTION_AGE",
    "retention_years_after_closure": "EARLYHELP_RETENTION_YEARS_AFTER_CLOSURE",
    "notify_api_key": "EARLYHELP_NOTIFY_API_KEY",
    "notify_url": "EARLYHELP_NOTIFY_URL",
    "notify_templates": "EARLYHELP_NOTIFY_TEMPLATES",
    "notify_sent_file": "EARLYHELP_NOTIFY_SENT_FILE",
    "web_host": "EARLYHELP_WEB_HOST",
    "web_port": "EARLYHELP_WEB_PORT",
    "web_secure_cookies": "EARLYHELP_WEB_SECURE_COOKIES",
}
