"""``manage.py dicom_listener``: the DIMSE storage listener (C-ECHO and C-STORE SCP) of every
team, one port and AE title each (labeling/dimse/).

It reads the teams' settings every ``--poll`` seconds (``CXR_DICOM_LISTENER_POLL_SECONDS``):
a port that changed moves its server, a new AE title is taken at once, a team's peers are read
at every association. Each read writes a heartbeat that the listener page shows. ``make run``
starts it from the Procfile; SIGTERM or Ctrl-C stops it.
"""

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from labeling.dimse.listener import Listener

PRUNE_EVERY = 100  # polls between two prunings of the event log


class Command(BaseCommand):
    help = "Receive DICOM files over DIMSE (C-ECHO, C-STORE) from each team's configured peers."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--host",
            default=settings.DICOM_LISTENER_HOST,
            help="address to bind (default: CXR_DICOM_LISTENER_HOST, %(default)s)",
        )
        parser.add_argument(
            "--poll",
            type=float,
            default=settings.DICOM_LISTENER_POLL_SECONDS,
            help="seconds between two reads of the teams' settings (default: %(default)s)",
        )

    def handle(self, *args, **options) -> None:
        if options["poll"] <= 0:
            raise CommandError("--poll must be positive")
        stop = threading.Event()
        for name in ("SIGTERM", "SIGINT"):
            signal.signal(getattr(signal, name), lambda *_: stop.set())
        listener = Listener(host=options["host"])
        try:
            polls = 0
            shown: dict[int, tuple] = {}
            while not stop.is_set():
                for state in listener.refresh():
                    self._show(listener, state, shown)
                polls += 1
                if polls % PRUNE_EVERY == 1:
                    listener.prune()
                stop.wait(options["poll"])
        finally:
            listener.close()
            self.stdout.write("listener stopped")

    def _show(self, listener: Listener, state, shown: dict) -> None:
        """One line per team when its state changes."""
        server = listener.supervisor.servers.get(state.key)
        now = (state.listening, state.problem, server.spec if server else None)
        if shown.get(state.key) == now:
            return
        shown[state.key] = now
        if server is not None:
            spec = server.spec
            self.stdout.write(f"team {spec.key}: {spec.ae_title} listening on port {spec.port}")
        else:
            self.stderr.write(f"team {state.key}: not listening: {state.problem}")
