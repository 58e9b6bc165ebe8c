"""Where the backup key comes from: ``--key-file`` first, else the ``CXR_BACKUP_KEY`` setting."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from .crypto import BackupKeyError


def passphrase(key_file: str | None) -> str:
    if key_file:
        try:
            text = Path(key_file).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise BackupKeyError(
                f"the key file {key_file} does not hold text; make one with openssl rand -base64 32"
            ) from None
        key = text[:-1] if text.endswith("\n") else text
        key = key[:-1] if key.endswith("\r") else key
        if not key:
            raise BackupKeyError(f"the key file {key_file} is empty")
        return key
    if settings.BACKUP_KEY:
        return settings.BACKUP_KEY
    raise BackupKeyError(
        "no backup key: pass --key-file PATH or set CXR_BACKUP_KEY (at least 16 characters; "
        "keep it apart from the archives)"
    )
