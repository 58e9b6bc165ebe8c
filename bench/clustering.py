"""Clause clustering figures: speed against a naive baseline, the paper's scale, and memory.

    .venv/bin/python bench/clustering.py                    # all three parts, full scale
    .venv/bin/python bench/clustering.py --part a --scale 0.5

(a) 2,000 unique clauses: this pipeline (normalise, polarity, rapidfuzz ``cdist``, FasterPAM)
    against a plain-Python dynamic-programming edit distance plus classic PAM (BUILD, then SWAP
    with nearest / second-nearest bookkeeping, O(n) per candidate swap) on the same clauses.
    The naive side would take hours, so it is *estimated* from timed subsets of its pairs and
    swaps; the estimate counts BUILD and a single SWAP pass, a lower bound (classic PAM needs
    one pass per swap it makes), so the printed speed-up is a lower bound too. A 200-clause
    subset is run in full on both sides to show the two reach the same kind of loss.
    Goal: at least 500x.
(b) The paper's scale: 16,569 demo reports (about 33,000 clauses) end to end: split, normalise,
    polarity, deduplicate, distances, k-medoids. Report generation is not timed. Goal: <= 10 s
    on 2 cores. ``--typo-rate`` adds random edits to that share of clauses, for corpora
    noisier than the demo's. Timed for every distance option (``labeling.distance``), the
    default first; ``--distance`` picks one.
(c) 200,000 clauses (demo clauses, half of them with one or two random edits, so most are
    unique and the sampled scheme runs): peak resident memory of a child process
    (``resource.getrusage``), before and after clustering, with the default distance or
    ``--distance``. Goal: <= 2 GB.

Input comes from ``labeling.synth.generate_reports``; beyond the variety it has, clauses get
random character edits (``_with_edits``). The machine these figures come from may be shared:
read them as indications, and rerun on a quiet machine for the record.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labeling.clustering import cluster_clauses
from labeling.distance import DEFAULT_DISTANCE, DISTANCES
from labeling.synth import generate_reports
from labeling.text import AFFIRMED, normalize, split_clauses

PAPER_REPORTS = 16_569
GOAL_SPEEDUP, GOAL_SECONDS, GOAL_BYTES = 500.0, 10.0, 2 * 1024**3


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("a", "b", "c", "all"), default="all")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every size")
    parser.add_argument("--k", type=int, default=50, help="clusters for (a); (b), (c) use 60")
    parser.add_argument("--typo-rate", type=float, default=0.0, help="extra edits in (b)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--distance", choices=DISTANCES, help="(b): only this option (default: each); (c): this one"
    )
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


# --- input ------------------------------------------------------------------------------------


def _demo_clauses(n_reports: int, seed: int) -> list[str]:
    return [c for r in generate_reports(n_reports, seed=seed) for c in split_clauses(r.diagnosis)]


def _with_edits(clause: str, alphabet: str, rng: random.Random) -> str:
    """One or two random substitutions, insertions or deletions of Han characters."""
    chars = list(clause)
    for _ in range(rng.choice((1, 1, 2))):
        at = rng.randrange(len(chars) + 1)
        action = rng.choice(("substitute", "insert", "delete"))
        if action == "insert" or len(chars) < 3:
            chars.insert(at, rng.choice(alphabet))
        elif action == "delete":
            del chars[min(at, len(chars) - 1)]
        else:
            chars[min(at, len(chars) - 1)] = rng.choice(alphabet)
    return "".join(chars)


def _alphabet(clauses: list[str]) -> str:
    return "".join(sorted({ch for c in clauses for ch in c if "\u4e00" <= ch <= "\u9fff"}))


def _unique_clauses(n: int, seed: int) -> list[str]:
    """n clauses, distinct after normalisation: the demo's own, then edited variants."""
    base = _demo_clauses(2000, seed)
    alphabet, rng = _alphabet(base), random.Random(seed)
    chosen: dict[str, str] = {}
    for clause in base:
        chosen.setdefault(normalize(clause), clause)
    while len(chosen) < n:
        clause = _with_edits(rng.choice(base), alphabet, rng)
        chosen.setdefault(normalize(clause), clause)
    return list(chosen.values())[:n]


# --- the naive baseline -----------------------------------------------------------------------


def dp_levenshtein(a: str, b: str) -> int:
    """Unit-cost edit distance, two-row dynamic programme in plain Python."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def naive_matrix(texts: list[str]) -> list[list[int]]:
    n = len(texts)
    matrix = [[0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            matrix[i][j] = matrix[j][i] = dp_levenshtein(texts[i], texts[j])
    return matrix


def _build(d: list[list[int]], k: int) -> list[int]:
    """PAM BUILD: the 1-medoid, then greedily the point that lowers the total cost most."""
    n = len(d)
    medoids = [min(range(n), key=lambda c: sum(d[c]))]
    nearest = list(d[medoids[0]])
    while len(medoids) < k:
        best, best_gain = -1, -1
        for c in range(n):
            if c in medoids:
                continue
            gain = sum(max(nearest[j] - d[c][j], 0) for j in range(n))
            if gain > best_gain:
                best, best_gain = c, gain
        medoids.append(best)
        nearest = [min(nearest[j], d[best][j]) for j in range(n)]
    return medoids


def _nearest_two(d: list[list[int]], medoids: list[int]) -> tuple[list[int], list[int], list[int]]:
    near_m, near_d, second_d = [], [], []
    for j in range(len(d)):
        ranked = sorted((d[j][m], m) for m in medoids)
        near_d.append(ranked[0][0])
        near_m.append(ranked[0][1])
        second_d.append(ranked[1][0] if len(ranked) > 1 else ranked[0][0])
    return near_m, near_d, second_d


def _swap_delta(d, medoids, near_m, near_d, second_d, m: int, h: int) -> int:
    """Change of total cost when medoid m is replaced by h: one O(n) pass (classic PAM)."""
    delta = 0
    for j in range(len(d)):
        dj = d[j][h]
        if near_m[j] == m:
            delta += min(dj, second_d[j]) - near_d[j]
        elif dj < near_d[j]:
            delta += dj - near_d[j]
    return delta


def naive_pam(d: list[list[int]], k: int) -> tuple[list[int], int, int]:
    """Classic PAM: BUILD, then repeatedly the single best swap until none improves."""
    medoids = _build(d, k)
    passes = 0
    while True:
        passes += 1
        near_m, near_d, second_d = _nearest_two(d, medoids)
        best = (0, None, None)
        for m in medoids:
            for h in range(len(d)):
                if h not in medoids:
                    delta = _swap_delta(d, medoids, near_m, near_d, second_d, m, h)
                    if delta < best[0]:
                        best = (delta, m, h)
        if best[1] is None:
            return medoids, sum(near_d), passes
        medoids[medoids.index(best[1])] = best[2]


# --- (a) ----------------------------------------------------------------------------------------


def _best_of(run, repeats: int = 3):
    """Fastest of a few runs, and its result: on a shared machine the minimum is the signal."""
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


def _same_task(texts: list[str], k: int, seed: int):
    """This pipeline on exactly the naive task: one group, cues kept, unweighted."""
    return cluster_clauses(
        texts, k, seed=seed, polarities=[AFFIRMED] * len(texts), strip_cues=False
    )


def part_a(n: int, k: int, seed: int) -> None:
    print(f"(a) {n:,} unique clauses, k={k}: this pipeline vs plain-Python DP + classic PAM")
    print("    (each side timed as the best of 3 runs)")
    texts = _unique_clauses(n, seed)
    ours_full, full = _best_of(lambda: cluster_clauses(texts, k, seed=seed))
    ours, same = _best_of(lambda: _same_task(texts, k, seed))
    print(f"    ours, full pipeline (polarity split {full.k}): {ours_full:.2f} s")
    print(
        f"    ours, the naive task exactly (one group, cues kept): {ours:.2f} s, "
        f"loss {same.loss}, distance {same.timings['distance']:.2f} s, "
        f"k-medoids {same.timings['kmedoids']:.2f} s"
    )

    norm = [normalize(t) for t in texts]
    rng = random.Random(seed)
    pairs = [(rng.randrange(n), rng.randrange(n)) for _ in range(10_000)]
    seconds, _ = _best_of(lambda: [dp_levenshtein(norm[i], norm[j]) for i, j in pairs])
    per_pair = seconds / len(pairs)
    dp_seconds = per_pair * n * (n - 1) / 2
    print(
        f"    naive DP: {1 / per_pair:,.0f} pairs/s on {len(pairs):,} timed pairs "
        f"-> {n * (n - 1) // 2:,} pairs = {dp_seconds:,.0f} s (estimated)"
    )
    pam_seconds = _estimate_pam(norm, k, seed)
    naive = dp_seconds + pam_seconds
    speedup = naive / ours
    verdict = "meets" if speedup >= GOAL_SPEEDUP else "MISSES"
    print(
        f"    naive total >= {naive:,.0f} s (estimated lower bound); speed-up >= {speedup:,.0f}x "
        f"({verdict} the {GOAL_SPEEDUP:.0f}x goal)"
    )
    _check_small(texts[:200], seed)


def _estimate_pam(norm: list[str], k: int, seed: int) -> float:
    """Time PAM's inner loops on a 300-clause matrix and scale to n (each is O(n) per step)."""
    n, sub = len(norm), 300
    d = naive_matrix(norm[:sub])
    medoids = list(range(0, sub, sub // k))[:k] if k < sub else list(range(sub))
    near_m, near_d, second_d = _nearest_two(d, medoids)
    candidates = [h for h in range(sub) if h not in medoids][:200]

    def some_swaps() -> None:
        for m in medoids[:10]:
            for h in candidates:
                _swap_delta(d, medoids, near_m, near_d, second_d, m, h)

    seconds, _ = _best_of(some_swaps)
    per_point = seconds / (min(10, len(medoids)) * len(candidates) * sub)
    swap_pass = per_point * k * (n - k) * n
    build = per_point * k * n * n  # each BUILD step scores every candidate over every point
    print(
        f"    naive PAM: {per_point * 1e9:.0f} ns per point per candidate swap -> BUILD "
        f"{build:,.0f} s + one SWAP pass {swap_pass:,.0f} s (estimated, k={k}, n={n:,})"
    )
    return build + swap_pass


def _check_small(texts: list[str], seed: int, k: int = 10) -> None:
    """Both sides in full on a small subset: same task, comparable loss."""
    norm = [normalize(t) for t in texts]
    started = time.perf_counter()
    d = naive_matrix(norm)
    _, naive_loss, passes = naive_pam(d, k)
    naive_seconds = time.perf_counter() - started
    started = time.perf_counter()
    ours = _same_task(texts, k, seed)
    ours_seconds = time.perf_counter() - started
    print(
        f"    check on {len(texts)} clauses, k={k}, both run in full: naive {naive_seconds:.1f} s "
        f"(loss {naive_loss}, {passes} SWAP passes), ours {ours_seconds:.3f} s (loss {ours.loss}), "
        f"{naive_seconds / ours_seconds:,.0f}x"
    )


# --- (b) ----------------------------------------------------------------------------------------


def part_b(n_reports: int, typo_rate: float, seed: int, distance: str | None) -> None:
    print(f"(b) paper scale: {n_reports:,} demo reports end to end, k=60")
    started = time.perf_counter()
    reports = generate_reports(n_reports, seed=seed)
    diagnoses = [r.diagnosis for r in reports]
    if typo_rate > 0:
        diagnoses = _noisy(diagnoses, typo_rate, seed)
    print(f"    generating the reports (not timed): {time.perf_counter() - started:.1f} s")
    options = (
        [distance]
        if distance
        else [DEFAULT_DISTANCE, *(d for d in DISTANCES if d != DEFAULT_DISTANCE)]
    )
    for option in options:
        started = time.perf_counter()
        clauses = [c for diagnosis in diagnoses for c in split_clauses(diagnosis)]
        split_seconds = time.perf_counter() - started
        result = cluster_clauses(clauses, 60, seed=seed, distance=option)
        total = time.perf_counter() - started
        parts = ", ".join(f"{name} {secs:.2f}" for name, secs in result.timings.items())
        verdict = "meets" if total <= GOAL_SECONDS else "MISSES"
        print(
            f"    {option}: {len(clauses):,} clauses, {result.n_unique:,} unique: "
            f"split {split_seconds:.2f} s, cluster {parts} s"
        )
        print(f"    end to end {total:.2f} s on {os.cpu_count()} cores ({verdict} the 10 s goal)")


def _noisy(diagnoses: list[str], rate: float, seed: int) -> list[str]:
    """Diagnoses whose clauses get random edits at the given rate (re-joined with 。)."""
    alphabet, rng = _alphabet(diagnoses), random.Random(seed)
    noisy = []
    for diagnosis in diagnoses:
        clauses = split_clauses(diagnosis)
        clauses = [_with_edits(c, alphabet, rng) if rng.random() < rate else c for c in clauses]
        noisy.append("。".join(clauses))
    return noisy


# --- (c) ----------------------------------------------------------------------------------------


def part_c(n_clauses: int, seed: int, distance: str | None) -> None:
    distance = distance or DEFAULT_DISTANCE
    print(f"(c) {n_clauses:,} clauses, {distance}: peak memory of a child process")
    command = [sys.executable, __file__, "--memory-child", str(n_clauses), "--seed", str(seed)]
    command += ["--distance", distance]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    before, after = figures["maxrss_before"], figures["maxrss_after"]
    verdict = "meets" if after <= GOAL_BYTES else "MISSES"
    print(
        f"    {figures['clauses']:,} clauses, {figures['unique']:,} unique, "
        f"sampled={figures['sampled']}, k={figures['k']}"
    )
    print(
        f"    peak RSS {before / 2**20:,.0f} MiB after building the input, "
        f"{after / 2**20:,.0f} MiB after clustering ({verdict} the 2 GB goal); "
        f"clustering took {figures['seconds']:.1f} s"
    )
    print(f"    timings (s): {figures['timings']}")


def memory_child(n_clauses: int, seed: int, distance: str) -> None:
    base = _demo_clauses(5000, seed)
    alphabet, rng = _alphabet(base), random.Random(seed)
    clauses = []
    for _ in range(n_clauses):
        clause = rng.choice(base)
        clauses.append(_with_edits(clause, alphabet, rng) if rng.random() < 0.5 else clause)
    before = _maxrss_bytes()
    started = time.perf_counter()
    result = cluster_clauses(clauses, 60, seed=seed, distance=distance)
    seconds = time.perf_counter() - started
    figures = {
        "clauses": len(clauses),
        "unique": result.n_unique,
        "sampled": result.sampled,
        "k": result.k,
        "seconds": seconds,
        "timings": {name: round(secs, 2) for name, secs in result.timings.items()},
        "maxrss_before": before,
        "maxrss_after": _maxrss_bytes(),
    }
    print(json.dumps(figures))


def _maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def main() -> None:
    args = _arguments()
    if args.memory_child is not None:
        memory_child(args.memory_child, args.seed, args.distance or DEFAULT_DISTANCE)
        return
    print(f"clause clustering benchmark, scale {args.scale}, {os.cpu_count()} cores (maybe shared)")
    if args.part in ("a", "all"):
        part_a(max(int(2000 * args.scale), args.k + 1), args.k, args.seed)
    if args.part in ("b", "all"):
        part_b(max(int(PAPER_REPORTS * args.scale), 10), args.typo_rate, args.seed, args.distance)
    if args.part in ("c", "all"):
        part_c(max(int(200_000 * args.scale), 1000), args.seed, args.distance)


if __name__ == "__main__":
    main()
