"""A worker that loses its database or broker connection neither loses its job nor runs it twice.

Real services only: PostgreSQL and Redis, and real ``celery worker`` processes. The worker under
test logs in to PostgreSQL as a role of its own, so the test can take the database away from
that worker alone (the role may not log in, its sessions are terminated) and give it back. Its
Redis connections are found through /proc and killed with CLIENT KILL, or pass through a TCP
relay the test can cut and restore; the shared Redis server itself is never touched.

A session on SQLite and the filesystem broker (the local default) runs this module again in a
child pytest session against the machine's PostgreSQL and Redis, as CI runs the whole suite
(``CXR_TEST_POSTGRES`` and ``CXR_TEST_REDIS`` point elsewhere), so these tests never skip.
"""

import os
import re
import socket
import subprocess
import sys
import threading
import time
from contextlib import suppress
from datetime import datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from jobs.models import Job, JobStatus
from training.models import Prediction
from training.runs import job_folder

from .label_sets import frozen_label_set
from .stalling_trainer import Stall
from .test_worker import ROOT, Worker, database_url, launch, reload, wait_for

ON_SERVICES = connection.vendor == "postgresql" and settings.CELERY_BROKER_URL.startswith("redis")
POSTGRES = os.environ.get("CXR_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432")
REDIS = os.environ.get("CXR_TEST_REDIS", "redis://127.0.0.1:6379")

pytestmark = [pytest.mark.slow]


def on_services(test):
    """Collected in a session on PostgreSQL and Redis; elsewhere the child session runs it."""
    test.__test__ = ON_SERVICES
    return pytest.mark.django_db(transaction=True)(test)


@pytest.mark.timeout(1500)
def test_this_module_runs_against_postgresql_and_redis(tmp_path):
    """The session is on SQLite or the filesystem broker: the tests below run in a child
    session on PostgreSQL and Redis, with the same fixtures."""
    import redis

    number = free_redis_db(redis.Redis.from_url(REDIS))
    env = {
        **os.environ,
        "DATABASE_URL": f"{POSTGRES}/cxrlab_connections_{os.getpid()}",
        "REDIS_URL": f"{REDIS}/{number}",
    }
    try:
        child = subprocess.run(
            [sys.executable, "-m", "pytest", __file__, "-x", "-p", "no:cacheprovider",
             f"--basetemp={tmp_path / 'child'}"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500,
        )  # fmt: skip
    finally:
        redis.Redis.from_url(f"{REDIS}/{number}").flushdb()
    summary = child.stdout.strip().splitlines()[-1] if child.stdout.strip() else ""
    assert child.returncode == 0, child.stdout[-20000:] + child.stderr[-5000:]
    assert "database postgresql, broker redis://" in child.stdout
    assert re.search(r"\b5 passed\b", summary) and "skip" not in summary, child.stdout[-5000:]


test_this_module_runs_against_postgresql_and_redis.__test__ = not ON_SERVICES


def free_redis_db(client) -> int:
    """An empty Redis database number, so the child's queues are its own."""
    used = {int(key[2:]) for key in client.info("keyspace")}
    for offset in range(15):
        number = 1 + (os.getpid() + offset) % 15
        if number not in used:
            return number
    raise AssertionError("no empty Redis database for the test's queues")


# --- the services, as seen from the test ---------------------------------------------------------


class DatabaseOutage:
    """PostgreSQL away for one role: it may not log in, and its sessions are terminated."""

    def __init__(self, role: str) -> None:
        self.role = role

    def begin(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f'ALTER ROLE "{self.role}" NOLOGIN')
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                [self.role],
            )

    def end(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f'ALTER ROLE "{self.role}" LOGIN')

    def sessions(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", [self.role])
            return cursor.fetchone()[0]


def tcp_ports(process_group: int, remote_port: int) -> set[int]:
    """Local ports of a process group's TCP connections to ``remote_port`` (Linux /proc)."""
    sockets = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[2]) != process_group:
                continue
            links = [os.readlink(fd) for fd in (proc / "fd").iterdir()]
        except (FileNotFoundError, ProcessLookupError):
            continue  # the process ended meanwhile
        sockets.update(link[8:-1] for link in links if link.startswith("socket:["))
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if inode in sockets and int(remote.rsplit(":", 1)[1], 16) == remote_port:
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


def kill_redis_clients(worker: Worker) -> int:
    """CLIENT KILL every Redis connection of the worker's processes; returns how many."""
    import redis

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    ports = tcp_ports(worker.process.pid, client.connection_pool.connection_kwargs["port"])
    killed = 0
    for entry in client.client_list():
        if int(entry["addr"].rsplit(":", 1)[1]) in ports:
            killed += client.client_kill_filter(_id=entry["id"])  # 0 if it closed meanwhile
    return killed


class BrokerLine:
    """A TCP relay between one worker and Redis that the test can cut and restore: the broker
    away for that worker alone, the shared server untouched."""

    def __init__(self) -> None:
        import redis

        kwargs = redis.Redis.from_url(settings.CELERY_BROKER_URL).connection_pool.connection_kwargs
        self.target = (kwargs.get("host", "127.0.0.1"), kwargs.get("port", 6379))
        self.db = kwargs.get("db", 0)
        self.sockets: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.port = 0
        self.restore()
        self.url = f"redis://127.0.0.1:{self.port}/{self.db}"

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port, self.listener = listener.getsockname()[1], listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        for sock in [self.listener, *self.sockets]:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.sockets = []

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            server = socket.create_connection(self.target)
            self.sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


# --- fixtures ----------------------------------------------------------------------------------------


class Workers:
    """Starts ``celery worker`` processes, each logged in to PostgreSQL as a role of its own
    (with the test user's rights on the tables), so that an outage can hit one of them."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[Worker] = []
        self.roles: dict[int, str] = {}  # worker pid -> role

    def start(self, name: str, *stall_after: int, **env: str) -> Worker:
        """A worker; with ``stall_after``, one whose training stalls after those epochs'
        checkpoints (``worker.stall``, tests/training/stalling_trainer.py)."""
        role = f"cxr_worker_{os.getpid()}_{name}"
        with connection.cursor() as cursor:
            cursor.execute(f'DROP ROLE IF EXISTS "{role}"')
            cursor.execute(f'CREATE ROLE "{role}" LOGIN')
            cursor.execute(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{role}"')
            cursor.execute(f'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
        # One thread: torch's thread pool slows down many times over when other processes
        # take the cores.
        stall = Stall(self.tmp_path, name, *stall_after) if stall_after else None
        worker = Worker(self.tmp_path, name, stall=stall, DATABASE_URL=database_url(role),
                        OMP_NUM_THREADS="1", **env)  # fmt: skip
        self.started.append(worker)
        self.roles[worker.process.pid] = role
        return worker

    def ready(self, *workers: Worker) -> None:
        for worker in workers:
            wait_for(lambda w=worker: " ready." in w.log.read_text(), 120, "a worker to start",
                     [worker.log])  # fmt: skip

    def outage(self, worker: Worker) -> "DatabaseOutage":
        return DatabaseOutage(self.roles[worker.process.pid])

    def holder(self, job: Job) -> Worker:
        """The worker whose pool process runs the job (waiting for the job to start)."""
        logs = [worker.log for worker in self.started]
        return wait_for(lambda: running_on(job, self.started), 120, "the job to start", logs)

    def two_and_a_job(self, personas, label_set, epochs: int) -> tuple[Job, Worker, Worker]:
        """Two workers and a job: the job, the worker that took it, and the idle one. Training
        stalls after epoch 2's checkpoint (on either worker: which one takes the job is the
        broker's choice) until the test lets it go on (``holder.stall.go()``)."""
        self.ready(self.start("a", 2), self.start("b", 2))
        job = launch(personas, label_set, epochs=epochs)
        holder = self.holder(job)
        self.stalled(holder, 2)
        return job, holder, next(other for other in self.started if other is not holder)

    def stalled(self, worker: Worker, epoch: int) -> None:
        """Wait until the worker's training waits after this epoch's checkpoint."""
        wait_for(lambda: worker.stall.at(epoch), 240, f"epoch {epoch}'s checkpoint",
                 [worker.log])  # fmt: skip

    def stop(self) -> None:
        for worker in self.started:
            worker.stop()
        with connection.cursor() as cursor:
            for role in self.roles.values():
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                    [role],
                )
                cursor.execute(f'DROP OWNED BY "{role}"')
                cursor.execute(f'DROP ROLE "{role}"')


@pytest.fixture
def workers(tmp_path):
    started = Workers(tmp_path)
    yield started
    started.stop()


@pytest.fixture
def label_set(personas, tmp_path, settings):
    settings.CACHE_IMAGE_SIZE = 64
    return frozen_label_set(personas.team, tmp_path, images=48)


def running_on(job: Job, workers: list[Worker]) -> Worker | None:
    """The worker whose pool process the job's row names, if it is running."""
    reload(job)
    if job.status != JobStatus.RUNNING or not job.worker:
        return None
    pid = int(job.worker.rsplit(":", 1)[1])
    with suppress(ProcessLookupError):
        return next((w for w in workers if os.getpgid(pid) == w.process.pid), None)
    return None


def assert_ran_once_to_the_end(job: Job, attempts: int) -> None:
    """Succeeded after these attempts, with one run folder, the test split's predictions stored
    once, and curves that never went back; in one attempt, with no point missing."""
    assert job.status == JobStatus.SUCCEEDED, job.error + job.traceback
    assert job.attempts == attempts
    run = job_folder(job) / "run"
    assert [p.name for p in job_folder(job).glob("run*")] == ["run"]
    tests = [line for line in (run / "predictions.jsonl").read_text().splitlines()
             if '"split": "test"' in line]  # fmt: skip
    assert tests and Prediction.objects.filter(job=job).count() == len(tests)
    epochs = job.config["engine"]["epochs"]
    validated = [p["epoch"] for p in job.history if p["phase"] == "validate"]
    assert validated == sorted(set(validated)) and validated[-1] == epochs
    if attempts == 1:
        train = [(p["epoch"], p["step"]) for p in job.history if p["phase"] == "train"]
        assert train == sorted(set(train))
        assert validated == list(range(1, epochs + 1))


def now() -> str:
    """The time as Celery writes it at the start of each worker log line."""
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]


def log_times(worker: Worker, pattern: str) -> list[str]:
    """When the worker logged lines matching the pattern."""
    stamp = re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})")
    lines = worker.log.read_text().splitlines()
    return [stamp.match(line).group(1) for line in lines
            if stamp.match(line) and re.search(pattern, line)]  # fmt: skip


def reconnected(worker: Worker, times: int) -> bool:
    """Whether the worker lost the broker ``times`` times and is connected again."""
    text = worker.log.read_text()
    lost = "Connection to broker lost"
    return text.count(lost) >= times and "Connected to redis" in text.rsplit(lost, 1)[-1]


def epoch_ends(worker: Worker, epoch: int) -> list[str]:
    """When the worker's training logged the end of this epoch."""
    return log_times(worker, rf"ForkPoolWorker.*\] epoch {epoch}: train loss")


def refusals(job: Job, *workers: Worker) -> int:
    """How many deliveries of the job's message the workers' claims refused (by its id: a
    message an earlier test left in the broker is refused too)."""
    return sum(worker.log.read_text().count(f"job {job.pk} is not queued") for worker in workers)


# --- the tests ---------------------------------------------------------------------------------------
#
# Each test acts at a known point of the job's run: its worker's training stalls after a chosen
# epoch's checkpoint until the test lets it go on (tests/training/stalling_trainer.py), and the
# test waits for what the workers log rather than for a time. A fast machine that trains every
# epoch before an outage begins, or a slow one whose epoch outlasts the outage, sees the same.


@on_services
def test_a_database_outage_shorter_than_the_claim_is_ridden_out(personas, label_set, workers):
    # The claim holds 28 s without a write (30 s less two beats), many times the outage: a
    # missed beat and one small epoch.
    worker = workers.start("db", 2, 3, CXR_JOB_HEARTBEAT_TIMEOUT="30")
    workers.ready(worker)
    job = launch(personas, label_set, epochs=4)
    workers.stalled(worker, 2)
    holder, outage = reload(job).worker, workers.outage(worker)
    outage.begin()
    began = now()
    try:
        wait_for(lambda: "heartbeat missed" in worker.log.read_text(), 30, "a missed beat",
                 [worker.log])  # fmt: skip
        assert outage.sessions() == 0  # the worker really is cut off
        worker.stall.go()  # epoch 2 ends and epoch 3 trains without a database
        workers.stalled(worker, 3)
        ended = now()
    finally:
        outage.end()
    # The job goes on once its heartbeat is back: a job that ended first would never say so.
    wait_for(lambda: "heartbeat back" in worker.log.read_text(), 30, "the heartbeat to return",
             [worker.log])  # fmt: skip
    worker.stall.go()
    wait_for(lambda: reload(job).finished, 300, "the job to finish", [worker.log])
    [during] = epoch_ends(worker, 2)
    [after] = epoch_ends(worker, 3)
    assert began <= during <= ended <= after
    assert_ran_once_to_the_end(job, attempts=1)
    assert job.worker == holder and "resumed from" not in job.log
    # Its heartbeat missed beats and came back; the log lines reached the row afterwards.
    assert "heartbeat missed, no database" in job.log
    assert re.search(r"heartbeat back after \d+s without a database", job.log)
    assert min(log_times(worker, "heartbeat back")) >= ended


# The worker-side timings (test_worker.Worker): a beat every second, requeued by a reaper after 5
# seconds without one; the claim lapses after 3 (jobs.worker.claim_grace).
CLAIM_LAPSES_AFTER = 5 - 2 * 1


@on_services
def test_a_worker_cut_off_for_longer_than_its_claim_stops_and_another_resumes(
    personas, label_set, workers
):
    cut_off = workers.start("cut-off", 2)
    workers.ready(cut_off)
    job = launch(personas, label_set, epochs=4)
    workers.stalled(cut_off, 2)
    outage = workers.outage(cut_off)
    outage.begin()
    try:
        # No write has gone through since the outage began: once the claim has lapsed, the
        # job goes on from its stall and pauses at its next report, epoch 2's validation.
        time.sleep(CLAIM_LAPSES_AFTER + 1)
        cut_off.stall.go()
        wait_for(lambda: "pausing until it answers" in cut_off.log.read_text(), 60,
                 "the cut-off worker to pause", [cut_off.log])  # fmt: skip
        # A second worker (its reaper) comes only now: the job is requeued, and resumed there
        # from epoch 2's checkpoint, while the cut-off worker waits for the database.
        healthy = workers.start("healthy", 3)
        workers.stalled(healthy, 3)
        assert running_on(job, [healthy])
    finally:
        outage.end()
    # Once the database answers, the cut-off worker finds the job taken and stops.
    wait_for(lambda: "writes nothing more" in cut_off.log.read_text(), 60,
             "the cut-off worker to stop", [cut_off.log])  # fmt: skip
    healthy.stall.go()
    wait_for(lambda: reload(job).finished, 300, "the job to finish", [cut_off.log, healthy.log])
    assert_ran_once_to_the_end(job, attempts=2)
    assert "resumed from" in job.log
    # It paused before the job was requeued and stopped after, without a training step between.
    [paused] = log_times(cut_off, "pausing until it answers")
    [stopped] = log_times(cut_off, "writes nothing more")
    requeued = log_times(healthy, "stopped sending heartbeats")
    assert requeued and paused < requeued[0] < stopped
    assert not [t for t in log_times(cut_off, r"epoch \d+") if paused < t < stopped]


@on_services
def test_broker_connections_killed_mid_job_neither_lose_nor_repeat_it(personas, label_set, workers):
    # the idle spare worker takes a message delivered again at once
    job, worker, spare = workers.two_and_a_job(personas, label_set, epochs=4)
    killed = 0
    for times in (1, 2, 3):
        killed += kill_redis_clients(worker)
        wait_for(lambda: reconnected(worker, times), 60, "the worker to reconnect", [worker.log])  # noqa: B023
    assert killed >= 3
    worker.stall.go()  # the job goes on after the last reconnection
    wait_for(lambda: reload(job).finished, 300, "the job to finish", [worker.log, spare.log])
    assert min(epoch_ends(worker, 2)) >= max(log_times(worker, "broker lost"))
    # The unacknowledged message went back to the queue; the claim refused it, wherever it went.
    assert "Restoring 1 unacknowledged message" in worker.log.read_text()
    wait_for(lambda: refusals(job, worker, spare) >= 1, 60, "the message delivered again",
             [worker.log, spare.log])  # fmt: skip
    assert_ran_once_to_the_end(reload(job), attempts=1)


@on_services
def test_a_job_requeued_while_the_broker_is_away_is_sent_once_it_is_back(
    personas, label_set, workers
):
    """The reaper requeues a dead worker's job while its own worker has no broker: the row says
    QUEUED, and the message must still reach the queue, or the job would wait forever."""
    lines = {name: BrokerLine() for name in ("a", "b")}
    try:
        # Training stalls after epoch 2 on both: the one that took the job is killed there; the
        # other resumes it from epoch 2's checkpoint, past its own stall.
        started = {workers.start(name, 2, REDIS_URL=line.url): line for name, line in lines.items()}
        workers.ready(*started)
        job = launch(personas, label_set, epochs=4)
        dead = workers.holder(job)
        reaper = next(worker for worker in started if worker is not dead)
        workers.stalled(dead, 2)
        started[reaper].cut()
        wait_for(lambda: "Connection to broker lost" in reaper.log.read_text(), 60,
                 "the reaper's worker to lose the broker", [reaper.log])  # fmt: skip
        dead.kill()
        wait_for(lambda: reload(job).status == JobStatus.QUEUED, 60, "the reaper to requeue",
                 [reaper.log])  # fmt: skip
        time.sleep(3)  # the broker is away: nothing can take the job (a while, to be seen)
        assert reload(job).status == JobStatus.QUEUED
        started[reaper].restore()
        wait_for(lambda: reload(job).finished, 120, "the job to finish", [reaper.log])
    finally:
        for line in lines.values():
            line.cut()
    assert_ran_once_to_the_end(job, attempts=2)
    assert "resumed from" in job.log


@on_services
def test_a_redelivered_message_of_a_running_job_is_refused_by_the_claim(
    personas, label_set, workers
):
    """What a broker reconnect can cause (acks_late): the running job's message again."""
    from jobs.tasks import run_job

    job, worker, spare = workers.two_and_a_job(personas, label_set, epochs=4)
    run_job.apply_async(args=[job.pk], queue="gpu")
    wait_for(lambda: refusals(job, spare), 60, "the spare worker to refuse", [spare.log])
    assert running_on(job, [worker])  # still stalled after epoch 2, where it was
    worker.stall.go()
    wait_for(lambda: reload(job).finished, 300, "the job to finish", [worker.log, spare.log])
    assert_ran_once_to_the_end(job, attempts=1)
