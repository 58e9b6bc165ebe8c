"""A model field whose column holds ciphertext and whose Python value is the plaintext.

Secrets the server must be able to read back (a PACS password, to log in with it) are stored
encrypted with Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``). The ORM,
``field.value_from_object()`` and Django's serializers all see plaintext; assigning plaintext
and saving encrypts it. The database, its dumps and its backups hold only ciphertext.

The key comes from the ``CXR_FIELD_ENCRYPTION_KEY`` setting: one secret, or several separated by
commas while rotating (the first encrypts, all decrypt). Unset, it is derived from
``SECRET_KEY`` (with ``SECRET_KEY_FALLBACKS`` for decryption). Each secret goes through HKDF-SHA256,
so any long random string will do. Losing the key loses the values: a column the keys cannot
decrypt reads as an :class:`Undecryptable`, which callers show as "enter it again" and which is
saved back unchanged (so restoring the right key brings it back).

Lookups by value (``filter(password=...)``) never match: each encryption is randomised.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import models

KDF_SALT = b"cxr-lab field encryption"
KDF_INFO = b"fernet v1"


class Undecryptable:
    """A stored value that no configured key decrypts (the key was changed or lost)."""

    __slots__ = ("token",)

    def __init__(self, token: str) -> None:
        self.token = token

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Undecryptable) and other.token == self.token

    def __hash__(self) -> int:
        return hash(self.token)

    def __repr__(self) -> str:
        return "<undecryptable value>"


def encryption_secrets() -> tuple[str, ...]:
    configured = tuple(getattr(settings, "CXR_FIELD_ENCRYPTION_KEY", ()) or ())
    if configured:
        return configured
    return (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ()))


@lru_cache(maxsize=8)
def _fernet(secrets: tuple[str, ...]) -> MultiFernet:
    keys = []
    for secret in secrets:
        derived = HKDF(hashes.SHA256(), length=32, salt=KDF_SALT, info=KDF_INFO).derive(
            secret.encode()
        )
        keys.append(Fernet(base64.urlsafe_b64encode(derived)))
    return MultiFernet(keys)


def encrypt(plaintext: str) -> str:
    return _fernet(encryption_secrets()).encrypt(plaintext.encode()).decode("ascii")


def decrypt(token: str) -> str | Undecryptable:
    try:
        return _fernet(encryption_secrets()).decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeError):
        return Undecryptable(token)


class EncryptedTextField(models.TextField):
    """Plaintext in Python, Fernet ciphertext in the column; the empty string stays empty."""

    def from_db_value(self, value, expression, connection) -> str | Undecryptable | None:
        if value is None or value == "":
            return value
        return decrypt(value)

    def to_python(self, value) -> str | Undecryptable | None:
        if value is None or isinstance(value, str | Undecryptable):
            return value
        return str(value)

    def get_prep_value(self, value) -> str | None:
        value = self.to_python(value)
        if isinstance(value, Undecryptable):
            return value.token
        if value is None or value == "":
            return value
        return encrypt(value)

    def value_to_string(self, obj) -> str:
        """Serializers write the plaintext; a value no key decrypts is written as empty."""
        value = self.value_from_object(obj)
        return "" if value is None or isinstance(value, Undecryptable) else value
