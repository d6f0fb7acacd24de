"""Master keys: AES-256 keys with ids, from a key file or the environment, never from the repo.

EARLYHELP_KEYS_FILE names a JSON file {"active": "k2", "keys": {"k1": "<base64>", "k2": "<base64>"},
"index": "<base64>"}; or EARLYHELP_MASTER_KEY holds one base64 key (id "env"). Old keys stay listed after a
rotation so that what they encrypted still decrypts; new data is encrypted under the active key. The index
key makes the blind indexes of references (`blind`): it outlives rotations (a file without one derives it
from its first key, and `keys rotate` writes that into the file).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
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


BLIND_PREFIX = "blind:"


def derived_index_key(first_key: bytes) -> bytes:
    return hmac.new(first_key, b"earlyhelp blind index", hashlib.sha256).digest()


@dataclass(frozen=True)
class MasterKeys:
    active: str
    keys: dict[str, bytes]
    index: bytes = b""

    def __post_init__(self) -> None:
        if not self.index:  # (keys given without one: derived, as from a key file that has none)
            object.__setattr__(self, "index", derived_index_key(next(iter(self.keys.values()))))

    def blind(self, value: str) -> str:
        """A keyed hash of a reference (a family's or person's id in the council's systems): equal for equal
        references, so it is searched; nothing without the index key turns it back or tests a guess."""
        return BLIND_PREFIX + hmac.new(self.index, value.encode(), hashlib.sha256).hexdigest()

    @classmethod
    def from_config(cls, config: Config) -> MasterKeys | None:
        if path := config.keys_file:
            try:
                doc = json.loads(Path(path).read_text())
                keys = {kid: base64.b64decode(value) for kid, value in doc["keys"].items()}
                active = doc["active"]
                index = base64.b64decode(doc["index"]) if "index" in doc else None
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise ConfigError("EARLYHELP_KEYS_FILE", f"cannot read the key file {path}: {e}") from None
            variable = "EARLYHELP_KEYS_FILE"
        elif value := config.master_key:
            try:
                keys, active, index = {"env": base64.b64decode(value, validate=True)}, "env", None
            except ValueError as e:
                raise ConfigError("EARLYHELP_MASTER_KEY", f"not base64: {e}") from None
            variable = "EARLYHELP_MASTER_KEY"
        else:
            return None
        if active not in keys or any(len(k) != 32 for k in keys.values()):
            raise ConfigError(variable, "keys must be 32 bytes (AES-256) and the active key must be listed")
        return cls(active, keys, index or b"")

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


def new_key_file(
    path: Path, active: str = "k1", previous: dict[str, str] | None = None, index: str | None = None
) -> None:
    """Write a key file with a new active key (keeping `previous` keys and the `index` key, base64): for
    `earlyhelp keys rotate` and `up`."""
    keys = dict(previous or {})
    keys[active] = base64.b64encode(secrets.token_bytes(32)).decode()
    if index is None:
        first = base64.b64decode(next(iter(keys.values())))
        index = base64.b64encode(derived_index_key(first) if previous else secrets.token_bytes(32)).decode()
    path.write_text(json.dumps({"active": active, "keys": keys, "index": index}, indent=2))
    path.chmod(0o600)
