"""The archive's encryption: chunked AES-GCM under a scrypt-stretched passphrase, streamed.

A wrong key is told apart from a damaged archive; any changed, dropped, reordered or added byte
is refused; neither side holds more than a chunk.
"""

import io
import os
import tracemalloc

import pytest

from lab.backup import crypto
from lab.backup.crypto import ArchiveDamaged, BackupKeyError, DecryptingReader, EncryptingWriter

KEY = "correct horse battery staple"
HEADER = 8 + 3 + 16 + 7 + 4 + 16


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    """Chunks of 1 KiB, so a few KiB of data make many chunks."""
    monkeypatch.setattr(crypto, "CHUNK", 1024)


def seal(data: bytes, key: str = KEY) -> bytes:
    out = io.BytesIO()
    writer = EncryptingWriter(out, key, log_n=10)
    for start in range(0, len(data), 700):  # writes that straddle chunk boundaries
        writer.write(data[start : start + 700])
    writer.close()
    return out.getvalue()


def open_all(sealed: bytes, key: str = KEY) -> bytes:
    reader = DecryptingReader(io.BytesIO(sealed), key)
    data = io.BufferedReader(reader).read()
    reader.finish()
    return data


def records(sealed: bytes) -> list[tuple[int, int]]:
    """(start, end) of each length-prefixed chunk after the header."""
    spans, offset = [], HEADER
    while offset < len(sealed):
        length = int.from_bytes(sealed[offset : offset + 4], "big")
        spans.append((offset, offset + 4 + length))
        offset += 4 + length
    return spans


DATA = os.urandom(5000)


@pytest.mark.parametrize("size", [0, 1, 1024, 1025, 5000])
def test_what_goes_in_comes_out(size):
    assert open_all(seal(DATA[:size])) == DATA[:size]


def test_the_archive_shows_nothing_of_its_content():
    text = b"pseudonym secret 0123456789abcdef " * 100
    assert b"pseudonym" not in seal(text)
    assert seal(text) != seal(text)  # a fresh salt and nonce prefix each time


def test_a_wrong_key_is_named_as_such_before_any_data_is_read():
    with pytest.raises(BackupKeyError, match="wrong backup key"):
        DecryptingReader(io.BytesIO(seal(DATA)), "another key of sixteen+")


def test_a_short_key_is_refused():
    with pytest.raises(BackupKeyError, match="at least 16 characters"):
        EncryptingWriter(io.BytesIO(), "short")


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_a_changed_byte_in_any_chunk_is_refused(where):
    sealed = bytearray(seal(DATA))
    spans = records(bytes(sealed))
    start, end = {"first": spans[0], "middle": spans[len(spans) // 2], "last": spans[-1]}[where]
    sealed[(start + 4 + end) // 2] ^= 0x01
    with pytest.raises(ArchiveDamaged, match="fails authentication"):
        open_all(bytes(sealed))


def test_a_changed_header_reads_as_a_wrong_key_or_damaged_header():
    sealed = bytearray(seal(DATA))
    sealed[20] ^= 0x01  # inside the salt
    with pytest.raises(BackupKeyError, match="header"):
        open_all(bytes(sealed))


def test_an_archive_cut_at_a_chunk_boundary_is_incomplete():
    sealed = seal(DATA)
    spans = records(sealed)
    with pytest.raises(ArchiveDamaged, match="ends early"):
        open_all(sealed[: spans[-2][1]])


def test_an_archive_cut_inside_a_chunk_is_incomplete():
    sealed = seal(DATA)
    with pytest.raises(ArchiveDamaged, match="incomplete"):
        open_all(sealed[:-10])


def test_reordered_or_repeated_chunks_are_refused():
    sealed = seal(DATA)
    spans = records(sealed)
    chunk = [sealed[s:e] for s, e in spans]
    swapped = sealed[:HEADER] + chunk[1] + chunk[0] + b"".join(chunk[2:])
    with pytest.raises(ArchiveDamaged, match="chunk 0"):
        open_all(swapped)
    repeated = sealed[:HEADER] + chunk[0] + b"".join(chunk)
    with pytest.raises(ArchiveDamaged, match="chunk 1"):
        open_all(repeated)


def test_bytes_after_the_last_chunk_are_refused():
    with pytest.raises(ArchiveDamaged, match="after its last chunk"):
        open_all(seal(DATA) + b"x")


def test_another_file_is_not_mistaken_for_an_archive():
    with pytest.raises(ArchiveDamaged, match="not a CXR Lab backup"):
        open_all(b"PK\x03\x04" + bytes(100))
    with pytest.raises(ArchiveDamaged, match="ends early"):
        open_all(b"CXR")


def test_a_header_asking_for_gigabytes_of_scrypt_memory_is_refused_before_deriving():
    sealed = bytearray(seal(DATA))
    sealed[8] = 30  # log2 n: 2**30 × 1 KiB
    with pytest.raises(ArchiveDamaged, match="out-of-range"):
        open_all(bytes(sealed))


def test_the_default_cost_is_what_a_new_archive_records():
    out = io.BytesIO()
    EncryptingWriter(out, KEY).close()
    assert out.getvalue()[8:11] == bytes([crypto.SCRYPT_LOG_N, crypto.SCRYPT_R, crypto.SCRYPT_P])
    assert crypto.SCRYPT_LOG_N >= 17


def test_sixty_four_mib_pass_through_in_a_few_chunks_of_memory(monkeypatch, tmp_path):
    monkeypatch.setattr(crypto, "CHUNK", 1024 * 1024)
    block = os.urandom(64 * 1024)
    path = tmp_path / "sealed"
    tracemalloc.start()
    with path.open("wb") as out:
        writer = EncryptingWriter(out, KEY, log_n=10)
        for _ in range(1024):
            writer.write(block)
        writer.close()
    _current, written_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    total = 0
    with path.open("rb") as source:
        reader = DecryptingReader(source, KEY)
        while data := reader.read(64 * 1024):
            total += len(data)
        reader.finish()
    _current, read_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert total == 64 * 1024 * 1024 and path.stat().st_size > total
    assert written_peak < 8 * 1024 * 1024, f"writing peaked at {written_peak / 2**20:.1f} MiB"
    assert read_peak < 8 * 1024 * 1024, f"reading peaked at {read_peak / 2**20:.1f} MiB"
