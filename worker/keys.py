"""Master keys: AES-256 keys with ids, from a key file or the environment, never from the repo.

EARLYHELP_KEYS_FILE names a JSON file {"active": "k2", "keys": {"k1": "<base64>", "k2": "<base64>"}};
or EARLYHELP_MASTER_KEY holds one base64 key (id "env"). Old keys stay listed after a rotation so
that what they encrypted still decrypts; new data is encrypted under the active key.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from worker.config import Config, ConfigError

NONCE = 12


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def unseal(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    return AESGCM(key).decrypt(sealed[:NONCE], sealed[NONCE:], aad)


@dataclass(frozen=True)
class MasterKeys:
    active: str
    keys: dict[str, bytes]

    @classmethod
    def from_config(cls, config: Config) -> MasterKeys | None:
        if path := config.keys_file:
            try:
                doc = json.loads(Path(path).read_text())
                keys = {kid: base64.b64decode(value) for kid, value in doc["keys"].items()}
                active = doc["active"]
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise ConfigError("EARLYHELP_KEYS_FILE", f"cannot read the key file {path}: {e}") from None
            variable = "EARLYHELP_KEYS_FILE"
        elif value := config.master_key:
            try:
                keys, active = {"env": base64.b64decode(value, validate=True)}, "env"
            except ValueError as e:
                raise ConfigError("EARLYHELP_MASTER_KEY", f"not base64: {e}") from None
            variable = "EARLYHELP_MASTER_KEY"
        else:
            return None
        if active not in keys or any(len(k) != 32 for k in keys.values()):
            raise ConfigError(variable, "keys must be 32 bytes (AES-256) and the active key must be listed")
        return cls(active, keys)

    def removed(self, key_id: str) -> bool:
        """A key id `earlyhelp keys rotate` gave before the active one (k1, k2, ...) that is no longer held."""
        older = re.fullmatch(r"k(\d+)", key_id)
        active = re.fullmatch(r"k(\d+)", self.active)
        return bool(older and active and int(older[1]) < int(active[1]) and key_id not in self.keys)

    def key(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise KeyError(f"master key {key_id!r} is not configured (was it removed after a rotation?)") from None


def new_key_file(path: Path, active: str = "k1", previous: dict[str, str] | None = None) -> None:
    """Write a key file with a new active key (keeping `previous` keys): for `earlyhelp keys rotate` and `up`."""
    keys = dict(previous or {})
    keys[active] = base64.b64encode(secrets.token_bytes(32)).decode()
    path.write_text(json.dumps({"active": active, "keys": keys}, indent=2))
    path.chmod(0o600)
