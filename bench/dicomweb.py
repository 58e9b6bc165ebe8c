"""DICOMweb latency against Orthanc, QIDO over many instances, memory while streaming a big file.

    python bench/dicomweb.py [--size 2048] [--requests 400] [--clients 8]
                             [--qido-instances 10000] [--big-mb 100] [--workers 2] [--threads 4]

Everything runs on loopback in a temporary folder: our app under gunicorn (DEBUG=1, 127.0.0.1, a
fresh SQLite database and data folder; the user, team and token are made with manage.py), and an
Orthanc with its DICOMweb plugin (tests/orthanc.py) holding the same instance. Printed:

* WADO-RS ``frames/1`` (native, application/octet-stream) and WADO-URI (image/jpeg) latency,
  p50 / p99 over ``--requests`` requests from ``--clients`` concurrent clients, ours and
  Orthanc's, for one ``size``² 12-bit instance (issue 3's goal: our p50 no slower). Repeated
  JPEG requests are answered from our render cache; the "cold" row gives every request its own
  window so each one is decoded, windowed and encoded afresh (ours only);
* QIDO-RS p50 for typical searches over ``--qido-instances`` instances created in bulk (goal:
  under 100 ms);
* peak RSS of the gunicorn workers while one ``--big-mb`` MB instance is retrieved through
  WADO-RS and WADO-URI (goal: under 300 MB: files are streamed, never held whole).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.dicom_factory import make_dx, write  # noqa: E402
from tests.orthanc import free_port, start_orthanc  # noqa: E402

PYTHON = sys.executable
OCTET = 'multipart/related; type="application/octet-stream"'


def main() -> None:
    args = _arguments()
    _machine()
    with tempfile.TemporaryDirectory(prefix="bench-dicomweb-") as folder:
        work = Path(folder)
        env = _environment(work)
        token = _prepare_app(env, work)
        sample = _write_instance(work / "sample.dcm", args.size, identity=1)
        big = _write_instance(work / "big.dcm", _side_for(args.big_mb), identity=2)
        _manage(env, "ingest", "--team", "Bench", str(sample), str(big))
        _bulk_rows(env, args.qido_instances)
        server = _start_gunicorn(env, work, args)
        try:
            orthanc = start_orthanc(work / "orthanc")
        except BaseException:
            _stop_gunicorn(work)
            raise
        try:
            ours = _Target(server, "/dicomweb", "/wado", {"Authorization": f"Token {token}"})
            theirs = _Target(orthanc.url, "/dicom-web", "/wado", {})
            requests.post(f"{orthanc.url}/instances", data=sample.read_bytes(), timeout=60)
            _memory(ours, big, args, server_pid=_gunicorn_pid(work))
            _latency(ours, theirs, sample, args)
            _qido(ours, args)
        finally:
            orthanc.stop()
            _stop_gunicorn(work)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=2048, help="side of the latency instance")
    parser.add_argument("--requests", type=int, default=400, help="requests per measurement")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--qido-instances", type=int, default=10_000)
    parser.add_argument("--big-mb", type=int, default=100, help="size of the streamed instance")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    return parser.parse_args()


def _machine() -> None:
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load average {load}; Python {platform.python_version()}"
    )


# --------------------------------------------------------------------------------------------
# Our app: database, user, token, data, gunicorn
# --------------------------------------------------------------------------------------------


def _environment(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(DEBUG="1", CXR_DATA_DIR=str(work / "var"), LOG_LEVEL="WARNING")
    env["DJANGO_SUPERUSER_PASSWORD"] = "bench-password-not-secret"
    return env


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def _prepare_app(env: dict[str, str], work: Path) -> str:
    _manage(env, "migrate", "--noinput")
    _manage(env, "createsuperuser", "--noinput", "--username", "bench", "--email", "b@x.org")
    _manage(env, "teams", "create", "Bench")
    _manage(env, "teams", "add-member", "Bench", "bench", "--role", "admin")
    output = _manage(env, "drf_create_token", "bench")
    return output.split()[2]  # "Generated token <key> for user bench"


def _side_for(megabytes: int) -> int:
    return min(8192, int(math.sqrt(megabytes * 1024 * 1024 / 2)))


def _write_instance(path: Path, side: int, identity: int) -> Path:
    """The test phantom (compresses like a radiograph, unlike noise), with a window so that
    rendering takes the common path."""
    ds = make_dx(rows=side, columns=side, identity=identity, WindowCenter=2048, WindowWidth=4096)
    return write(ds, path)


BULK = """
import datetime
from django.db import transaction
from teams.models import Team
from labeling.models import Study, Series, Instance
team = Team.objects.get(name="Bench")
n, per = {n}, 10
with transaction.atomic():
    studies = Study.objects.bulk_create([
        Study(team=team, study_uid=f"2.25.9{{i}}", accession_number=f"A{{i:07d}}",
              patient_id=f"P{{i % 2000:06d}}", patient_name=f"Bulk^Patient{{i % 2000}}",
              study_date=datetime.date(2019, 1, 1) + datetime.timedelta(days=i % 365))
        for i in range(n // per)])
    series = Series.objects.bulk_create([
        Series(team=team, study=s, series_uid=s.study_uid + ".1", modality="DX" if i % 2 else "CR",
               series_number=1) for i, s in enumerate(studies)])
    Instance.objects.bulk_create([
        Instance(team=team, study=r.study, series=r, sop_uid=f"{{r.series_uid}}.{{k}}",
                 rows=2048, columns=2048, bits_stored=12, file_path="none.dcm")
        for r in series for k in range(per)], batch_size=2000)
print(Instance.objects.count())
"""


def _bulk_rows(env: dict[str, str], n: int) -> None:
    started = time.perf_counter()
    count = _manage(env, "shell", "-c", BULK.format(n=n)).strip()
    print(
        f"QIDO data: {count} instances in the database "
        f"(bulk-created in {time.perf_counter() - started:.1f} s)"
    )


def _start_gunicorn(env: dict[str, str], work: Path, args) -> str:
    port = free_port()
    server_env = {
        **env,
        "BIND": f"127.0.0.1:{port}",
        "WEB_WORKERS": str(args.workers),
        "WEB_THREADS": str(args.threads),
    }
    log = open(work / "gunicorn.log", "wb")
    command = [
        PYTHON,
        "-m",
        "gunicorn",
        "-c",
        "lab/gunicorn.conf.py",
        "--pid",
        str(work / "gunicorn.pid"),
        "--access-logfile",
        "/dev/null",
        "lab.wsgi",
    ]
    subprocess.Popen(command, cwd=ROOT, env=server_env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            requests.get(f"{url}/dicomweb/studies", timeout=60)
            return url
        except requests.RequestException:
            time.sleep(0.3)
    _stop_gunicorn(work)
    raise SystemExit(f"gunicorn did not start:\n{(work / 'gunicorn.log').read_text()[-3000:]}")


def _gunicorn_pid(work: Path) -> int:
    return int((work / "gunicorn.pid").read_text())


def _stop_gunicorn(work: Path) -> None:
    pid_file = work / "gunicorn.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text())
        os.kill(pid, 15)
        for _ in range(50):
            if not Path(f"/proc/{pid}").exists():
                return
            time.sleep(0.1)


# --------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------


class _Target:
    def __init__(self, url: str, dicomweb: str, wado: str, headers: dict[str, str]) -> None:
        self.url, self.dicomweb, self.wado, self.headers = url, dicomweb, wado, headers

    def instance_url(self, ds) -> str:
        return (
            f"{self.url}{self.dicomweb}/studies/{ds.StudyInstanceUID}/series/"
            f"{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
        )

    def wado_url(self, ds, content_type: str) -> str:
        return (
            f"{self.url}{self.wado}?requestType=WADO&studyUID={ds.StudyInstanceUID}"
            f"&seriesUID={ds.SeriesInstanceUID}&objectUID={ds.SOPInstanceUID}"
            f"&contentType={content_type}"
        )


def _header(path: Path):
    import pydicom

    return pydicom.dcmread(path, stop_before_pixels=True)


def _fetch(session: requests.Session, url: str, headers: dict[str, str]) -> tuple[float, int]:
    started = time.perf_counter()
    response = session.get(url, headers=headers, timeout=300)
    size = len(response.content)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"GET {url} answered {response.status_code}: {response.text[:300]}")
    return elapsed, size


def _run_clients(url, headers: dict[str, str], total: int, clients: int) -> list[float]:
    """``url``: one URL, or a function of the request number (client, index) giving each its own."""
    per_client = max(1, total // clients)
    url_of = url if callable(url) else lambda _client, _index: url

    def client(number: int) -> list[float]:
        with requests.Session() as session:
            _fetch(session, url_of(number, -1), headers)  # warm the connection
            return [_fetch(session, url_of(number, i), headers)[0] for i in range(per_client)]

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(client, range(clients)))
    return [t for result in results for t in result]


def _percentiles(times: list[float]) -> str:
    ordered = sorted(times)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
    return f"p50 {p50 * 1000:7.1f} ms   p99 {p99 * 1000:7.1f} ms   (n={len(ordered)})"


def _latency(ours: _Target, theirs: _Target, sample: Path, args) -> None:
    ds = _header(sample)
    print(
        f"\nLatency, {args.clients} concurrent clients, one {args.size}x{args.size} 12-bit "
        f"instance ({sample.stat().st_size / 1e6:.1f} MB file)"
    )
    cases = [
        (
            "WADO-RS frames/1 (octet-stream)",
            lambda t: t.instance_url(ds) + "/frames/1",
            {"Accept": OCTET},
        ),
        ("WADO-URI image/jpeg", lambda t: t.wado_url(ds, "image/jpeg"), {}),
    ]
    for label, url_of, headers in cases:
        for name, target in (("ours   ", ours), ("Orthanc", theirs)):
            times = _run_clients(
                url_of(target), {**target.headers, **headers}, args.requests, args.clients
            )
            print(f"  {label:34s} {name}  {_percentiles(times)}")

    def cold(client: int, index: int) -> str:
        window = f"&windowCenter={1000 + client * 1000 + index}&windowWidth=4096"
        return ours.wado_url(ds, "image/jpeg") + window

    times = _run_clients(cold, ours.headers, args.requests, args.clients)
    print(f"  {'WADO-URI image/jpeg, cold':34s} ours     {_percentiles(times)}")


QIDO_CASES = [
    ("studies?PatientID=P000123", {}),
    ("studies?PatientName=Bulk^Patient12*&limit=50", {}),
    ("studies?StudyDate=20190301-20190331&limit=100", {}),
    ("series?Modality=CR&limit=100", {}),
    ("instances?limit=100", {}),
    ("studies/2.25.9123/series/2.25.9123.1/instances", {}),
]


def _qido(ours: _Target, args) -> None:
    print(f"\nQIDO-RS over {args.qido_instances} instances (one client, sequential)")
    with requests.Session() as session:
        for query, _ in QIDO_CASES:
            url = f"{ours.url}{ours.dicomweb}/{query}"
            headers = {**ours.headers, "Accept": "application/dicom+json"}
            _fetch(session, url, headers)
            times = [_fetch(session, url, headers)[0] for _ in range(30)]
            rows = len(session.get(url, headers=headers).json())
            print(f"  {query:52s} {rows:5d} rows  p50 {statistics.median(times) * 1000:6.1f} ms")


def _worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def _rss_kb(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _memory(ours: _Target, big: Path, args, server_pid: int) -> None:
    ds = _header(big)
    workers = _worker_pids(server_pid)
    before = {pid: _rss_kb(pid) for pid in workers}
    peak = dict(before)
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for pid in workers:
                peak[pid] = max(peak[pid], _rss_kb(pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    results = []
    with requests.Session() as session:
        for label, url, headers in (
            (
                "WADO-RS instance",
                ours.instance_url(ds),
                {"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'},
            ),
            ("WADO-RS frames/1", ours.instance_url(ds) + "/frames/1", {"Accept": OCTET}),
            ("WADO-URI application/dicom", ours.wado_url(ds, "application/dicom"), {}),
        ):
            started = time.perf_counter()
            response = session.get(
                url, headers={**ours.headers, **headers}, stream=True, timeout=600
            )
            received = sum(len(c) for c in response.iter_content(1 << 20))
            results.append((label, received, time.perf_counter() - started))
    stop.set()
    sampler.join()
    print(
        f"\nMemory while streaming one {big.stat().st_size / 1e6:.0f} MB instance "
        f"({len(workers)} gunicorn workers)"
    )
    for label, received, seconds in results:
        print(f"  {label:28s} {received / 1e6:7.1f} MB in {seconds:5.2f} s")
    print(
        "  worker RSS before -> peak: "
        + ", ".join(f"{before[p] / 1024:.0f} -> {peak[p] / 1024:.0f} MB" for p in workers)
    )
    print(json.dumps({"peak_worker_rss_mb": round(max(peak.values()) / 1024, 1)}))


if __name__ == "__main__":
    main()
