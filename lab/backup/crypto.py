"""The archive's encryption: a passphrase stretched by scrypt, then AES-256-GCM in chunks.

Pure module (no Django). An archive is a plaintext header, a key-check tag, then a sequence of
records, each a 4-byte big-endian length and one sealed chunk of at most ``CHUNK`` bytes::

    magic (8) | log2 n, r, p (3) | salt (16) | nonce prefix (7) | chunk size (4) | check tag (16)
    [length (4) | AES-GCM(chunk) + tag (16)] ...

Every chunk is authenticated with the header as associated data and sealed under the nonce
``prefix | counter | last``: a reordered, dropped, repeated or truncated chunk, a changed header
or bytes after the last chunk all fail, and the stream must end with a chunk marked last
(the STREAM construction that age and Tink use). The key-check tag seals nothing under a nonce
no chunk uses, so a wrong passphrase is told apart from a damaged archive before any chunk is
read. Neither side ever holds more than one chunk.
"""

from __future__ import annotations

import io
import os
import struct
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

MAGIC = b"CXRBAK\x00\x01"
CHUNK = 1024 * 1024
# scrypt cost: 2**17 × 128 × r bytes = 128 MiB and a few tenths of a second per derivation.
SCRYPT_LOG_N = 17
SCRYPT_R = 8
SCRYPT_P = 1
# What a reader accepts from a header: a crafted one must not make it allocate gigabytes.
LOG_N_RANGE = range(10, 19)
MAX_CHUNK = 16 * 1024 * 1024
MIN_PASSPHRASE = 16

_PARAMS = struct.Struct(">8sBBB16s7sI")
_LENGTH = struct.Struct(">I")
_TAG = 16
_CHECK_COUNTER = 0xFFFFFFFF  # never a chunk's: 2**32 - 1 chunks of 1 MiB would be 4 PiB


class BackupKeyError(ValueError):
    """The passphrase is missing, too short, or not the one the archive was made with."""


class ArchiveDamaged(ValueError):
    """The archive is not one of ours, or was cut short, changed or extended."""


def _derive(passphrase: str, salt: bytes, log_n: int, r: int, p: int) -> AESGCM:
    if len(passphrase) < MIN_PASSPHRASE:
        raise BackupKeyError(
            f"the backup key must be at least {MIN_PASSPHRASE} characters, got {len(passphrase)}"
        )
    key = Scrypt(salt=salt, length=32, n=2**log_n, r=r, p=p).derive(passphrase.encode())
    return AESGCM(key)


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


class EncryptingWriter(io.RawIOBase):
    """A write-only file object: bytes in, sealed chunks out to ``raw``. ``close()`` seals the
    last chunk (empty when the data filled the previous one exactly); it does not close ``raw``."""

    def __init__(self, raw: BinaryIO, passphrase: str, *, log_n: int | None = None) -> None:
        super().__init__()
        log_n = SCRYPT_LOG_N if log_n is None else log_n
        salt, self._prefix = os.urandom(16), os.urandom(7)
        params = _PARAMS.pack(MAGIC, log_n, SCRYPT_R, SCRYPT_P, salt, self._prefix, CHUNK)
        self._aead = _derive(passphrase, salt, log_n, SCRYPT_R, SCRYPT_P)
        self._header = params
        check = self._aead.encrypt(_nonce(self._prefix, _CHECK_COUNTER, True), b"", params)
        self._raw = raw
        self._raw.write(params + check)
        self._buffer = bytearray()
        self._counter = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._buffer += data
        while len(self._buffer) > CHUNK:
            self._seal(bytes(self._buffer[:CHUNK]), last=False)
            del self._buffer[:CHUNK]
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._seal(bytes(self._buffer), last=True)
            self._buffer.clear()
        super().close()

    def _seal(self, chunk: bytes, *, last: bool) -> None:
        if self._counter >= _CHECK_COUNTER:
            raise ArchiveDamaged("the archive is too large for one key and nonce prefix")
        sealed = self._aead.encrypt(_nonce(self._prefix, self._counter, last), chunk, self._header)
        self._raw.write(_LENGTH.pack(len(sealed)) + sealed)
        self._counter += 1


class DecryptingReader(io.RawIOBase):
    """A read-only file object over an archive made by :class:`EncryptingWriter`.

    Raises :class:`BackupKeyError` on construction when the passphrase is wrong, and
    :class:`ArchiveDamaged` while reading when a chunk fails to open or the stream ends early.
    ``finish()`` reads to the end and checks the stream ended where its last chunk says.
    """

    def __init__(self, raw: BinaryIO, passphrase: str) -> None:
        super().__init__()
        self._raw = raw
        params = _read_exactly(raw, _PARAMS.size, "header")
        magic, log_n, r, p, salt, self._prefix, chunk = _PARAMS.unpack(params)
        if magic != MAGIC:
            raise ArchiveDamaged("this is not a CXR Lab backup (unknown file signature)")
        if log_n not in LOG_N_RANGE or not 1 <= r <= 16 or not 1 <= p <= 4 or chunk > MAX_CHUNK:
            raise ArchiveDamaged("the archive header has out-of-range parameters")
        self._header, self._limit = params, chunk + _TAG
        check = _read_exactly(raw, _TAG, "header")
        self._aead = _derive(passphrase, salt, log_n, r, p)
        try:
            self._aead.decrypt(_nonce(self._prefix, _CHECK_COUNTER, True), check, params)
        except InvalidTag:
            raise BackupKeyError(
                "wrong backup key: this archive was made with another key (or its header "
                "is damaged)"
            ) from None
        self._counter = 0
        self._pending = memoryview(b"")
        self._ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not self._pending and not self._ended:
            self._pending = memoryview(self._open_next())
        count = min(len(target), len(self._pending))
        target[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def finish(self) -> None:
        """Read what is left: the stream must end right after its last chunk."""
        while not self._ended:
            self._open_next()
        if self._raw.read(1):
            raise ArchiveDamaged("the archive has data after its last chunk")

    def _open_next(self) -> bytes:
        head = self._raw.read(_LENGTH.size)
        if not head:
            raise ArchiveDamaged(
                f"the archive ends early, after {self._counter} chunks: it is incomplete"
            )
        if len(head) < _LENGTH.size:
            raise ArchiveDamaged("the archive ends in the middle of a chunk: it is incomplete")
        (length,) = _LENGTH.unpack(head)
        if not _TAG <= length <= self._limit:
            raise ArchiveDamaged(f"chunk {self._counter} has an impossible length ({length})")
        sealed = _read_exactly(self._raw, length, f"chunk {self._counter}")
        for last in (False, True):
            try:
                nonce = _nonce(self._prefix, self._counter, last)
                chunk = self._aead.decrypt(nonce, sealed, self._header)
            except InvalidTag:
                continue
            self._counter += 1
            self._ended = last
            return chunk
        raise ArchiveDamaged(
            f"chunk {self._counter} of the archive fails authentication: the archive was "
            "changed or damaged"
        )


def _read_exactly(raw: BinaryIO, size: int, what: str) -> bytes:
    data = raw.read(size)
    if len(data) != size:
        raise ArchiveDamaged(f"the archive ends early, inside its {what}: it is incomplete")
    return data
