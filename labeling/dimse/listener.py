"""The Django side of the storage listener: who may associate, where received files go, and the
event log that the listener page reads.

- **Who**: an association is accepted when the called AE title is the team's and the calling AE
  title belongs to one of the team's peers whose address is the one the association comes
  from. Both are read from the database at every association, so a change of peers or of the
  AE title counts at once. A peer's address also passes the PACS destination policy
  (``labeling.pacs.check_peer``: a private or loopback address must be allowed by the operator,
  ``CXR_PACS_ALLOWED_HOSTS``), at every association as when it was entered.
- **Where**: each C-STORE goes through ``labeling.services.ingest_file``, the path uploads take
  (validation, de-identification, the cache, one row per SOP Instance UID under concurrency);
  a rejected file is answered with a failure status, logged and written down with its reason.
- **Ports**: :meth:`Listener.refresh` reads every team's AE title and port and hands them to the
  :class:`~labeling.dimse.server.Supervisor`, which starts, moves or stops servers; ``manage.py
  dicom_listener`` calls it every ``DICOM_LISTENER_POLL_SECONDS``, and writes a heartbeat.

Database work runs on a few threads of its own (:class:`DbThreads`): pynetdicom gives each
association a thread, and this bounds the connections and the files decoded at once.
"""

from __future__ import annotations

import io
import ipaddress
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection
from django.db.models import F
from django.utils import timezone

from teams.models import Team

from .. import netpolicy, pacs, services
from ..models import DicomAssociation, DicomListener, DicomPeer, DicomRejection
from .server import (
    CANNOT_UNDERSTAND,
    OUT_OF_RESOURCES,
    SUCCESS,
    Peer,
    ServerSpec,
    ServerState,
    StoreAnswer,
    Supervisor,
)
from .titles import Refusal, default_title, same_title

log = logging.getLogger("labeling.dimse")
DB_THREADS = 4
# The event log keeps this many associations and rejected files per team.
KEEP_EVENTS = 200
# The page calls a listener running when its heartbeat is at most this old (seconds).
HEARTBEAT_SECONDS = 10
# Rejection codes the peer is told are ours to fix (no room), not its file's fault.
OUR_SIDE = {"too_large"}


@dataclass(frozen=True)
class Token:
    """An admitted association: its log row and the peer's calling AE title."""

    association_id: int
    calling_ae: str


class DbThreads:
    """A few threads that each keep one database connection; :meth:`call` runs a function on
    one of them and returns its result (or raises its exception)."""

    def __init__(self, count: int = DB_THREADS) -> None:
        self.tasks: queue.Queue = queue.Queue()
        self.threads = [
            threading.Thread(target=self._work, name=f"dimse-db-{n}", daemon=True)
            for n in range(count)
        ]
        for thread in self.threads:
            thread.start()

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        future: Future = Future()
        self.tasks.put((function, args, future))
        return future.result()

    def _work(self) -> None:
        while (task := self.tasks.get()) is not None:
            function, args, future = task
            close_old_connections()
            try:
                future.set_result(function(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                future.set_exception(exc)
        connection.close()

    def close(self) -> None:
        for _ in self.threads:
            self.tasks.put(None)
        for thread in self.threads:
            thread.join()


class Listener:
    """The :class:`~labeling.dimse.server.Handlers` of every team's server, and the loop's
    steps. ``create_missing``: give a team without listener settings a row of its own (a free
    port from ``DICOM_LISTENER_FIRST_PORT``), as ``manage.py dicom_listener`` does."""

    def __init__(self, *, host: str | None = None, create_missing: bool = True) -> None:
        self.db = DbThreads()
        self.create_missing = create_missing
        self.supervisor = Supervisor(host or settings.DICOM_LISTENER_HOST, self)

    # The loop ---------------------------------------------------------------------------------

    def refresh(self) -> list[ServerState]:
        """Servers equal to the teams' settings; the states written down with a heartbeat."""
        specs = self.db.call(desired_servers, self.create_missing)
        states = self.supervisor.reconcile(specs)
        self.db.call(record_states, states)
        return states

    def prune(self) -> None:
        self.db.call(prune_events)

    def close(self) -> None:
        keys = list(self.supervisor.servers)
        self.supervisor.stop()
        self.db.call(record_stopped, keys)
        self.db.close()

    # Handlers, called from the associations' threads ------------------------------------------

    def admit(self, key: int, peer: Peer) -> tuple[Token | None, Refusal | None]:
        return self.db.call(admit, key, peer)

    def store(self, key: int, token: object, data: bytes, sop_uid: str) -> StoreAnswer:
        if not isinstance(token, Token):  # never: a refused association sends nothing
            return StoreAnswer(CANNOT_UNDERSTAND, "association not admitted")
        return self.db.call(store, key, token, data, sop_uid)

    def refused_late(self, key: int, token: object, reason: str) -> None:
        if isinstance(token, Token):
            self.db.call(end_association, key, token, DicomAssociation.Outcome.REFUSED, reason)

    def ended(self, key: int, token: object, outcome: str) -> None:
        if isinstance(token, Token):
            self.db.call(end_association, key, token, outcome, "")


# ----------------------------------------------------------------------------------------------
# What the threads run (each a short unit of database work)
# ----------------------------------------------------------------------------------------------


def desired_servers(create_missing: bool) -> list[ServerSpec]:
    if create_missing:
        for team in Team.objects.exclude(pk__in=DicomListener.objects.values("team_id")):
            listener_for(team)
    rows = DicomListener.objects.filter(enabled=True).order_by("team_id")
    return [ServerSpec(row.team_id, row.ae_title, row.port) for row in rows]


def listener_for(team: Team, *, create: bool = True) -> DicomListener:
    """The team's listener settings; a new row (saved when ``create``) has the team's default
    AE title and the first free port from ``DICOM_LISTENER_FIRST_PORT``."""
    found = DicomListener.objects.filter(team=team).first()
    if found is not None:
        return found
    for _attempt in range(5):
        row = DicomListener(team=team, ae_title=default_title(team.slug, team.pk), port=free_port())
        if not create:
            return row
        try:
            row.save()
        except IntegrityError:  # another process took the port (or made the row) first
            found = DicomListener.objects.filter(team=team).first()
            if found is not None:
                return found
            continue
        return row
    raise RuntimeError(f"no free listener port for team {team.pk}")


def free_port() -> int:
    used = set(DicomListener.objects.values_list("port", flat=True))
    port = settings.DICOM_LISTENER_FIRST_PORT
    while port in used:
        port += 1
    return port


def record_states(states: list[ServerState]) -> None:
    now = timezone.now()
    for state in states:
        DicomListener.objects.filter(team_id=state.key).update(
            heartbeat_at=now, listening=state.listening, problem=state.problem[:255]
        )


def record_stopped(keys: list[int]) -> None:
    DicomListener.objects.filter(team_id__in=keys).update(listening=False, heartbeat_at=None)


def admit(key: int, peer: Peer) -> tuple[Token | None, Refusal | None]:
    refusal = _refusal(key, peer)
    row = DicomAssociation.objects.create(
        team_id=key,
        calling_ae=peer.calling_ae[:64],
        called_ae=peer.called_ae[:64],
        address=peer.address[:64],
        outcome=DicomAssociation.Outcome.REFUSED if refusal else DicomAssociation.Outcome.OPEN,
        reason=refusal.reason[:255] if refusal else "",
        ended_at=timezone.now() if refusal else None,
    )
    counter = "refused" if refusal else "associations"
    DicomListener.objects.filter(team_id=key).update(**{counter: F(counter) + 1})
    if refusal:
        return None, refusal
    return Token(row.pk, peer.calling_ae.strip()), None


def _refusal(key: int, peer: Peer) -> Refusal | None:
    listener = DicomListener.objects.filter(team_id=key, enabled=True).first()
    if listener is None:
        return Refusal.called_unknown("this team's listener is switched off")
    if not same_title(peer.called_ae, listener.ae_title):
        return Refusal.called_unknown(
            f"called AE title {peer.called_ae.strip()!r} is not this listener's "
            f"({listener.ae_title})"
        )
    titled = [
        p for p in DicomPeer.objects.filter(team_id=key) if same_title(p.ae_title, peer.calling_ae)
    ]
    if not titled:
        return Refusal.calling_unknown(
            f"calling AE title {peer.calling_ae.strip()!r} is not a peer of this team"
        )
    if not any(address_matches(p.host, peer.address) for p in titled):
        hosts = ", ".join(p.host for p in titled)
        return Refusal.calling_unknown(
            f"{peer.calling_ae.strip()} is a peer at {hosts}, not at {peer.address}"
        )
    return None


def address_matches(host: str, address: str) -> bool:
    """Whether an association from ``address`` comes from the peer at ``host`` (an IP address
    or a name, resolved now), and the destination policy still allows that peer."""
    try:
        remote = _plain(ipaddress.ip_address(address.split("%", 1)[0]))
        destination = pacs.check_peer(host, 104)
    except (ValueError, netpolicy.DestinationRefused) as exc:
        log.info("peer %s does not match %s: %s", host, address, exc)
        return False
    if netpolicy.is_ip_literal(host):
        return _plain(ipaddress.ip_address(destination.address)) == remote
    try:
        resolved = netpolicy.system_resolver(destination.host, 104)
    except OSError:
        return False
    return any(_plain(ipaddress.ip_address(text.split("%", 1)[0])) == remote for text in resolved)


def _plain(address: ipaddress.IPv4Address | ipaddress.IPv6Address):
    """IPv4 seen through an IPv6 socket (``::ffff:10.0.0.5``) is that IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def store(key: int, token: Token, data: bytes, sop_uid: str) -> StoreAnswer:
    team = Team.objects.get(pk=key)
    name = f"DIMSE {token.calling_ae}: {sop_uid or 'no SOP Instance UID'}"
    result = services.ingest_file(team, io.BytesIO(data), name=name)
    counter = {"imported": "stored", "duplicate": "duplicates"}.get(result.status, "rejected")
    DicomAssociation.objects.filter(pk=token.association_id).update(**{counter: F(counter) + 1})
    DicomListener.objects.filter(team_id=key).update(**{counter: F(counter) + 1})
    if result.status != "rejected":
        return StoreAnswer(SUCCESS)
    log.warning(
        "DIMSE file %s from %s rejected: %s %s",
        sop_uid,
        token.calling_ae,
        result.code,
        result.reason,
    )
    DicomRejection.objects.create(
        team_id=key,
        association_id=token.association_id,
        calling_ae=token.calling_ae[:64],
        sop_uid=sop_uid[:64],
        code=result.code[:40],
        reason=result.reason[:500],
    )
    status = OUT_OF_RESOURCES if result.code in OUR_SIDE else CANNOT_UNDERSTAND
    return StoreAnswer(status, f"{result.code}: {result.reason}")


def end_association(key: int, token: Token, outcome: str, reason: str) -> None:
    DicomAssociation.objects.filter(
        pk=token.association_id, outcome=DicomAssociation.Outcome.OPEN
    ).update(outcome=outcome, reason=reason[:255], ended_at=timezone.now())
    if outcome == DicomAssociation.Outcome.REFUSED:
        DicomListener.objects.filter(team_id=key).update(
            refused=F("refused") + 1, associations=F("associations") - 1
        )


def prune_events(keep: int = KEEP_EVENTS) -> None:
    """The latest ``keep`` associations and rejected files of each team; the counts stay."""
    for team_id in DicomListener.objects.values_list("team_id", flat=True):
        for model, field in ((DicomAssociation, "started_at"), (DicomRejection, "at")):
            old = model.objects.filter(team_id=team_id).order_by(f"-{field}", "-id")[keep:]
            ids = list(old.values_list("id", flat=True)[:10_000])
            if ids:
                model.objects.filter(id__in=ids).delete()
