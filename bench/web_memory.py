"""Peak RSS of a web worker after the pages and DICOMweb requests people actually make.

    .venv/bin/python bench/web_memory.py [--images 4] [--size 2048] [--threads 4]

Runs the web process as the Procfile does (gunicorn -c lab/gunicorn.conf.py lab.wsgi; one worker
here, so every request lands in the process measured) against a fresh SQLite database and data
folder with ``--images`` synthetic ``size``² 12-bit studies ingested. A logged-in session then
asks, twice, for the study list with its thumbnails, two study pages, QIDO-RS searches, and
for one instance its metadata, WADO-RS frames/1 (native), rendered JPEG and PNG and thumbnail.
Printed: the worker's VmRSS after start-up and its VmHWM (peak RSS) and VmRSS at the end, from
/proc/<pid>/status, and whether torch or scikit-learn are mapped into the worker (the web
process must not import torch). The server helpers are bench/dicomweb.py's.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dicomweb as server


def status(pid: int) -> dict[str, int]:
    return {field: server._rss_kb(pid, field) for field in ("VmRSS", "VmHWM")}


def mapped(pid: int, *names: str) -> dict[str, bool]:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {name: f"/{name}/" in maps for name in names}


def login(url: str, password: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{url}/accounts/login/", timeout=60)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    done = session.post(
        f"{url}/accounts/login/",
        data={"username": "bench", "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{url}/accounts/login/"},
        timeout=60,
    )
    if done.url.endswith("/accounts/login/"):
        raise SystemExit("login failed")
    return session


def get(session: requests.Session, url: str, **headers: str) -> requests.Response:
    response = session.get(url, headers=headers, timeout=300)
    if response.status_code != 200:
        raise SystemExit(f"GET {url}: {response.status_code} {response.text[:300]}")
    return response


def browse(session: requests.Session, url: str) -> int:
    """The requests of a person looking at studies; returns how many were made."""
    made = 0
    listing = get(session, f"{url}/studies/").text
    made += 1
    pages = sorted(set(re.findall(r'href="(/studies/\d+/)"', listing)))
    if not pages:
        raise SystemExit("the study list shows no study")
    thumbnails = sorted(set(re.findall(r'"(/instances/\d+/thumbnail\.png)"', listing)))
    if not thumbnails:
        raise SystemExit("the study list shows no thumbnail")
    for thumbnail in thumbnails:
        get(session, url + thumbnail)
        made += 1
    for page in pages[:2]:
        get(session, url + page)
        made += 1
    dicomweb = f"{url}/dicomweb"
    studies = get(session, f"{dicomweb}/studies", Accept="application/dicom+json").json()
    instances = get(
        session, f"{dicomweb}/instances?includefield=all", Accept="application/dicom+json"
    ).json()
    made += 2
    for query in ("PatientID=ANON*", "ModalitiesInStudy=DX", "StudyDate=19000101-29991231"):
        get(session, f"{dicomweb}/studies?{query}", Accept="application/dicom+json")
        made += 1
    if not studies or not instances:
        raise SystemExit("QIDO-RS found nothing")
    first = instances[0]
    path = "/".join(
        (
            f"{dicomweb}/studies/{first['0020000D']['Value'][0]}",
            f"series/{first['0020000E']['Value'][0]}",
            f"instances/{first['00080018']['Value'][0]}",
        )
    )
    get(session, f"{path}/metadata", Accept="application/dicom+json")
    get(session, f"{path}/frames/1", Accept='multipart/related; type="application/octet-stream"')
    get(session, f"{path}/rendered", Accept="image/jpeg")
    get(session, f"{path}/rendered", Accept="image/png")
    get(session, f"{path}/rendered?window=1800,2000,linear", Accept="image/jpeg")
    get(session, f"{path}/thumbnail", Accept="image/jpeg")
    return made + 6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    from labeling import synth

    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="bench-web-memory-") as folder:
        work = Path(folder)
        env = server._environment(work)
        server._prepare_app(env, work)
        demo = synth.generate_demo(work / "demo", args.images, seed=1, size=args.size)
        server._manage(env, "ingest", "--team", "Bench", str(demo.dicom_paths[0].parents[1]))
        try:
            options = SimpleNamespace(workers=1, threads=args.threads)
            url = server._start_gunicorn(env, work, options)
            (worker,) = server._worker_pids(server._gunicorn_pid(work))
            started = status(worker)
            session = login(url, env["DJANGO_SUPERUSER_PASSWORD"])
            requests_made = browse(session, url)
            requests_made += browse(session, url)  # again: caches warm, nothing should grow
            end = status(worker)
            libraries = mapped(worker, "torch", "sklearn")
        finally:
            server._stop_gunicorn(work)
    print(
        f"{args.images} studies of {args.size}² 12-bit; gunicorn, 1 worker, {args.threads} threads"
    )
    print(f"worker RSS after start-up : {started['VmRSS'] / 1024:6.0f} MB")
    print(
        f"worker peak RSS (VmHWM)   : {end['VmHWM'] / 1024:6.0f} MB after {requests_made} requests"
    )
    print(f"worker RSS at the end     : {end['VmRSS'] / 1024:6.0f} MB")
    print("mapped into the worker    : " + ", ".join(f"{k} {v}" for k, v in libraries.items()))


if __name__ == "__main__":
    main()
