"""AE titles and why an association is refused (pure: no Django, no pynetdicom).

PS3.5 gives an AE title at most 16 characters of the default character repertoire, without
backslash or control characters; leading and trailing spaces are not significant, and an AE
title of spaces only is not allowed. PS3.8 lists the reasons an A-ASSOCIATE-RJ may give.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_AE_TITLE = 16

# A-ASSOCIATE-RJ: (result, source, diagnostic), PS3.8 section 9.3.4.
REJECTED_PERMANENT = 0x01
REJECTED_TRANSIENT = 0x02
SOURCE_SERVICE_USER = 0x01
SOURCE_PRESENTATION = 0x03
CALLING_AE_NOT_RECOGNISED = 0x03
CALLED_AE_NOT_RECOGNISED = 0x07
TEMPORARY_CONGESTION = 0x01


@dataclass(frozen=True)
class Refusal:
    """An association refused: what the A-ASSOCIATE-RJ says, and the reason in words for the
    event log (never sent to the peer: DICOM has no field for it)."""

    result: int
    source: int
    diagnostic: int
    reason: str

    @classmethod
    def calling_unknown(cls, reason: str) -> Refusal:
        return cls(REJECTED_PERMANENT, SOURCE_SERVICE_USER, CALLING_AE_NOT_RECOGNISED, reason)

    @classmethod
    def called_unknown(cls, reason: str) -> Refusal:
        return cls(REJECTED_PERMANENT, SOURCE_SERVICE_USER, CALLED_AE_NOT_RECOGNISED, reason)

    @classmethod
    def congestion(cls, reason: str) -> Refusal:
        """Our side cannot take it now (the database is away): the peer may try again."""
        return cls(REJECTED_TRANSIENT, SOURCE_PRESENTATION, TEMPORARY_CONGESTION, reason)


def ae_title_problem(value: str) -> str:
    """Why ``value`` is not a valid AE title, or "" when it is."""
    title = value.strip(" ")
    if not title:
        return "an AE title needs at least one character besides spaces"
    if len(title) > MAX_AE_TITLE:
        return f"an AE title has at most {MAX_AE_TITLE} characters"
    if not title.isascii() or any(ch == "\\" or ord(ch) < 32 or ord(ch) == 127 for ch in title):
        return "an AE title holds ASCII letters, digits and punctuation, without backslash"
    return ""


def same_title(first: str, second: str) -> bool:
    """AE titles compare without their padding (PS3.5: spaces at either end are not
    significant); case matters."""
    return first.strip(" ") == second.strip(" ")


def default_title(slug: str, number: int) -> str:
    """A team's first AE title: its slug in capitals where that makes a valid one."""
    letters = "".join(ch for ch in slug.upper() if ch.isascii() and (ch.isalnum() or ch in "_-"))
    title = f"CXR_{letters}"[:MAX_AE_TITLE].strip("_-")
    return title if letters and not ae_title_problem(title) else f"CXR_TEAM{number}"[:16]
