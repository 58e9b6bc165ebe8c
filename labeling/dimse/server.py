"""The pynetdicom side of the storage listener: Verification and Storage SCP, one association
server per team (its own port and AE title), no Django.

What the listener decides is asked of a :class:`Handlers` object (the Django side,
``labeling.dimse.listener``): whether to accept an association (:meth:`Handlers.admit`, before
any presentation context is negotiated; a refusal is answered with an A-ASSOCIATE-RJ, never by
dropping the connection), what to answer to each C-STORE (:meth:`Handlers.store`, with the file
as the peer sent it, file meta information in front), and how each association ended.

The :class:`Supervisor` keeps the running servers equal to the configuration it is given
(:meth:`Supervisor.reconcile`): a new or moved port starts a server, a removed one stops it, a
new AE title is taken by the running server. Its caller polls the configuration every few
seconds, which is how a change made on the web page reaches a running listener.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from pydicom.dataset import Dataset
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, StoragePresentationContexts, evt
from pynetdicom.sop_class import Verification
from pynetdicom.transport import ThreadedAssociationServer

from .titles import Refusal

log = logging.getLogger("labeling.dimse")

# C-STORE statuses (PS3.4 Annex B.2.3).
SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
CANNOT_UNDERSTAND = 0xC000
# Seconds: an association that says nothing for this long is aborted; a peer that never
# finishes its A-ASSOCIATE-RQ or a DIMSE message likewise.
NETWORK_TIMEOUT = 60
# How long a closed connection waits for its association thread to report a release.
CLOSE_SETTLE_SECONDS = 10
MAX_ASSOCIATIONS = 16


@dataclass(frozen=True)
class ServerSpec:
    """What one server should be: the team it serves (``key``), its AE title and port."""

    key: int
    ae_title: str
    port: int


@dataclass(frozen=True)
class Peer:
    """The requestor of an association, as it presented itself."""

    calling_ae: str
    called_ae: str
    address: str


@dataclass(frozen=True)
class StoreAnswer:
    status: int
    comment: str = ""


class Handlers(Protocol):
    def admit(self, key: int, peer: Peer) -> tuple[object, Refusal | None]:
        """(a token for this association's later calls, the refusal or None to accept)."""

    def store(self, key: int, token: object, data: bytes, sop_uid: str) -> StoreAnswer: ...

    def refused_late(self, key: int, token: object, reason: str) -> None:
        """pynetdicom refused an admitted association (too many at once)."""

    def ended(self, key: int, token: object, outcome: str) -> None:
        """``outcome``: "released" or "aborted"; called once per admitted association."""


class TeamServer:
    """One team's association server, started on construction (raises OSError when the port
    cannot be bound)."""

    def __init__(self, spec: ServerSpec, host: str, handlers: Handlers) -> None:
        self.spec = spec
        self.handlers = handlers
        self._tokens: dict[int, object] = {}
        self._lock = threading.Lock()
        self.ae = _application_entity(spec.ae_title)
        events = [
            (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_REJECTED, self._on_rejected),
            (evt.EVT_C_ECHO, self._on_echo),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_RELEASED, self._on_end, ["released"]),
            (evt.EVT_ABORTED, self._on_end, ["aborted"]),
            (evt.EVT_CONN_CLOSE, self._on_close),
        ]
        self.server: ThreadedAssociationServer = self.ae.start_server(
            (host, spec.port), block=False, ae_title=spec.ae_title, evt_handlers=events
        )

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def retitle(self, spec: ServerSpec) -> None:
        """A new AE title for the running server (the gate checks the called AE title itself,
        from the database, so this only changes what the A-ASSOCIATE-AC says)."""
        self.server.ae_title = spec.ae_title
        self.spec = spec

    def stop(self) -> None:
        self.server.shutdown()

    # Events, each in the association's own thread -------------------------------------------

    def _on_requested(self, event: evt.Event) -> None:
        assoc = event.assoc
        request = assoc.requestor.primitive
        peer = Peer(
            calling_ae=str(request.calling_ae_title),
            called_ae=str(request.called_ae_title),
            address=str(assoc.requestor.address),
        )
        try:
            token, refusal = self.handlers.admit(self.spec.key, peer)
        except Exception:  # never drop the peer silently: say "try later"
            log.exception("admitting %s failed", peer)
            token, refusal = None, Refusal.congestion("the listener could not check the peer")
        if refusal is None:
            with self._lock:
                self._tokens[id(assoc)] = token
            return
        log.info("association from %s refused: %s", peer, refusal.reason)
        assoc.acse.send_reject(refusal.result, refusal.source, refusal.diagnostic)
        # As pynetdicom does after its own rejections: wait until the A-ASSOCIATE-RJ is out
        # and the peer closed (or the ARTIM timer ran out), then end the association.
        assoc.kill()

    def _token(self, event: evt.Event) -> object:
        with self._lock:
            return self._tokens.get(id(event.assoc))

    def _on_rejected(self, event: evt.Event) -> None:
        with self._lock:
            token = self._tokens.pop(id(event.assoc), None)
        if token is not None:
            self.handlers.refused_late(self.spec.key, token, "too many associations at once")

    def _on_echo(self, event: evt.Event) -> int:
        return SUCCESS

    def _on_store(self, event: evt.Event) -> Dataset:
        sop_uid = str(event.request.AffectedSOPInstanceUID or "")
        answer = self.handlers.store(self.spec.key, self._token(event), _received(event), sop_uid)
        status = Dataset()
        status.Status = answer.status
        if answer.comment:
            status.ErrorComment = answer.comment[:64]  # LO
        return status

    def _on_close(self, event: evt.Event) -> None:
        """The connection closed: an abort, unless the association thread still reports its
        release. The peer closes as soon as it reads our A-RELEASE-RP, which pynetdicom sends
        before it triggers EVT_RELEASED, so this event can come first (seen under load: two of
        four released associations logged as aborted). Decide once that thread has ended, on a
        thread of its own: this handler runs on the transport's thread, which the association
        thread waits for while it ends."""
        assoc = event.assoc

        def settle() -> None:
            if assoc is not threading.current_thread() and assoc.is_alive():
                assoc.join(timeout=CLOSE_SETTLE_SECONDS)
            self._on_end(event, "aborted")  # a no-op when EVT_RELEASED / EVT_ABORTED came

        threading.Thread(target=settle, name="dimse-close", daemon=True).start()

    def _on_end(self, event: evt.Event, outcome: str) -> None:
        with self._lock:
            token = self._tokens.pop(id(event.assoc), None)
        if token is not None:
            self.handlers.ended(self.spec.key, token, outcome)


def _received(event: evt.Event) -> bytes:
    """The file as the peer sent it: preamble, file meta information made from the C-STORE
    request and the presentation context, then the data set bytes, never decoded here."""
    try:
        path = event.dataset_path  # set with pynetdicom's _config.STORE_RECV_CHUNKED_DATASET
    except AttributeError:
        path = None
    return path.read_bytes() if path else event.encoded_dataset(include_meta=True)


def _application_entity(ae_title: str) -> AE:
    ae = AE(ae_title=ae_title)
    ae.maximum_associations = MAX_ASSOCIATIONS
    ae.acse_timeout = NETWORK_TIMEOUT
    ae.dimse_timeout = NETWORK_TIMEOUT
    ae.network_timeout = NETWORK_TIMEOUT
    ae.add_supported_context(Verification)
    for context in StoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
    return ae


@dataclass
class ServerState:
    """What the supervisor reports for one team: listening, or why not."""

    key: int
    listening: bool
    problem: str = ""


class Supervisor:
    """The running servers, kept equal to the configuration given to :meth:`reconcile`."""

    def __init__(self, host: str, handlers: Handlers) -> None:
        self.host = host
        self.handlers = handlers
        self.servers: dict[int, TeamServer] = {}
        self.problems: dict[int, str] = {}

    def reconcile(self, specs: Iterable[ServerSpec]) -> list[ServerState]:
        wanted = {spec.key: spec for spec in specs}
        for key in list(self.servers):
            running = self.servers[key]
            spec = wanted.get(key)
            if spec is None or spec.port != running.spec.port:
                log.info("stopping the listener of team %s on port %s", key, running.spec.port)
                running.stop()
                del self.servers[key]
            elif spec.ae_title != running.spec.ae_title:
                running.retitle(spec)
        self.problems = {key: text for key, text in self.problems.items() if key in wanted}
        for key, spec in wanted.items():
            if key not in self.servers:
                self._start(spec)
        return [ServerState(key, key in self.servers, self.problems.get(key, "")) for key in wanted]

    def _start(self, spec: ServerSpec) -> None:
        try:
            self.servers[spec.key] = TeamServer(spec, self.host, self.handlers)
        except OSError as exc:
            problem = f"port {spec.port} cannot be opened: {exc.strerror or exc}"
            if self.problems.get(spec.key) != problem:
                log.warning("team %s: %s", spec.key, problem)
            self.problems[spec.key] = problem
        else:
            self.problems.pop(spec.key, None)
            log.info("team %s listens as %s on port %s", spec.key, spec.ae_title, spec.port)

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.servers.clear()
