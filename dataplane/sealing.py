"""A caller's bearer token sealed for storage: AES-256-GCM, bound to the run that holds it.

Whatever the Durable extension persists (orchestration and activity inputs, continue-as-new
state) is readable through the management API and the task hub's storage, so a caller's token
never enters it in clear. It is sealed with the key in CALLER_TOKEN_KEY as soon as the request
is checked, and opened only inside the activity that sends it. The associated data is the run's
instance id, so a sealed token copied into another run does not open. During a key rotation
CALLER_TOKEN_KEY_PREVIOUS opens what the old key sealed.

Sealed form: ``v1.`` + base64url(12-byte nonce + ciphertext + 16-byte tag).
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
_NONCE_BYTES = 12
_PREFIX = "v1."
_CONTEXT = b"cancel-running-job/caller-token/v1/"


class TokenNotOpened(ValueError):
    """A sealed token that none of the keys opens (wrong key, another run's, or tampered)."""


def parse_key(text: str) -> bytes:
    """A key from its base64 text (standard or URL-safe alphabet); ValueError unless 32 bytes."""
    cleaned = text.strip()
    try:
        raw = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), altchars=b"-_", validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("is not base64") from exc
    if len(raw) != KEY_BYTES or not cleaned:
        raise ValueError(f"must be {KEY_BYTES} random bytes in base64")
    return raw


def seal(token: str, key: bytes, run_id: str) -> str:
    """Seal ``token`` for the run ``run_id`` under ``key``."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, token.encode("utf-8"), _CONTEXT + run_id.encode())
    return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def open_sealed(sealed: str, keys: tuple[bytes, ...], run_id: str) -> str:
    """The token ``sealed`` holds for ``run_id``; TokenNotOpened when no key opens it."""
    if not sealed.startswith(_PREFIX):
        raise TokenNotOpened("the sealed token has an unknown form")
    try:
        raw = base64.urlsafe_b64decode(sealed[len(_PREFIX) :].encode("ascii"))
    except (binascii.Error, ValueError) as exc:
        raise TokenNotOpened("the sealed token is not base64") from exc
    nonce, body = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
    for key in keys:
        try:
            plain = AESGCM(key).decrypt(nonce, body, _CONTEXT + run_id.encode())
        except (InvalidTag, ValueError):
            continue
        return plain.decode("utf-8")
    raise TokenNotOpened("no key opens the sealed token")
