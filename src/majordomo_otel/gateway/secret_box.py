"""Encryption of the provider keys the gateway stores in its database, with a secret only the operator holds.

The database holds Fernet tokens (AES-128-CBC + HMAC-SHA256, authenticated); the secret stays out of it
(`MAJORDOMO_SECRET_KEY`, or a file named by `MAJORDOMO_SECRET_KEY_FILE` for secret mounts). Any string of
16+ characters works: the Fernet key is derived from it with HKDF-SHA256, so `openssl rand -base64 32`
is a fine secret. A database dump, a backup or a replica of it therefore holds no usable provider key.

Rotating the secret: `MAJORDOMO_SECRET_KEY_PREVIOUS` (comma-separated) still decrypts what older secrets
encrypted; `majordomo credentials set` re-encrypts with the current one.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SECRET_ENV: Final = "MAJORDOMO_SECRET_KEY"
SECRET_FILE_ENV: Final = "MAJORDOMO_SECRET_KEY_FILE"
PREVIOUS_ENV: Final = "MAJORDOMO_SECRET_KEY_PREVIOUS"
_MIN_SECRET_CHARS: Final = 16
_INFO: Final = b"majordomo provider credentials v1"


class SecretKeyError(ValueError):
    """No usable operator secret: the message says which variable to set (never the secret)."""


class SecretBox:
    """Encrypts and decrypts provider keys; `repr` shows nothing of the secret."""

    __slots__ = ("_fernet",)

    def __init__(self, secret: str, previous: tuple[str, ...] = ()) -> None:
        self._fernet = MultiFernet([Fernet(_derive(s)) for s in (secret, *previous)])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, UnicodeError, ValueError):
            raise SecretKeyError(
                f"a stored provider key cannot be decrypted with {SECRET_ENV}: it was encrypted with another "
                f"secret (add the old one to {PREVIOUS_ENV}, or set the key again with `majordomo credentials set`)"
            ) from None

    def __repr__(self) -> str:
        return "SecretBox(<secret hidden>)"


def _derive(secret: str) -> bytes:
    if len(secret) < _MIN_SECRET_CHARS:
        raise SecretKeyError(
            f"{SECRET_ENV} must be at least {_MIN_SECRET_CHARS} characters (e.g. `openssl rand -base64 32`)"
        )
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret.encode())
    return base64.urlsafe_b64encode(raw)


def load_secret_box(environ: Mapping[str, str] | None = None) -> SecretBox | None:
    """The box from the environment, or None when no secret is set (stored keys then cannot be used)."""
    env = os.environ if environ is None else environ
    secret = env.get(SECRET_ENV, "")
    if not secret and (path := env.get(SECRET_FILE_ENV)):
        try:
            secret = Path(path).read_text().strip()
        except OSError as exc:
            raise SecretKeyError(f"{SECRET_FILE_ENV}={path}: cannot read it ({exc.strerror})") from None
    if not secret:
        return None
    previous = tuple(s.strip() for s in env.get(PREVIOUS_ENV, "").split(",") if s.strip())
    return SecretBox(secret, previous)
