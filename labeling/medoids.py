"""Weighted k-medoids over one polarity's unique clauses: the solver behind ``labeling.clustering``.

Pure Python (no Django). It holds the unique clauses of a polarity (``Group``) and their
weights, the weighted distance matrix, seeding and FasterPAM (``weighted_kmedoids``), the
weighted samples (``sample``), the per-polarity solvers (``Solver``, ``Proxy``), the
assignment of every clause to its nearest medoids (``assign``) and the evaluation of a
polarity's medoids (``evaluate``). It is kept apart from ``labeling.clustering``, which keeps
the pipeline and the public API (its module docstring is the contract), so that each stays
readable: here is how one polarity is solved, there is what a run does and promises.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from labeling.distance import PAPER, cdist

_ASSIGN_CHUNK_ROWS = 20_000
_PROXY_SIZE = 1_000
_PARALLEL_FROM = 5_000
_MAX_ITER = 100
_CENTRAL_CANDIDATES = 200


@dataclass
class Group:
    """The unique clauses of one polarity (compared texts), sorted."""

    polarity: str
    texts: list[str]
    counts: np.ndarray  # int64, occurrences of each unique clause

    @property
    def weights(self) -> np.ndarray:
        """What each unique clause weighs in k-medoids (see ``clause_weights``)."""
        return clause_weights(self.counts, self.distance)

    distance: str  # the distance option its texts are compared with
    first: np.ndarray  # int64, input index of the first occurrence (medoid index for the API)


def clause_weights(counts: np.ndarray, distance: str) -> np.ndarray:
    """Weights of unique clauses in k-medoids: occurrences under "paper" (the paper's objective
    over all clauses), ``1 + ln(occurrences)`` under "normalized".

    Linear weights let the few most written phrasings buy clusters for their own variants (a
    normal statement written 7,000 times) while a finding written 200 times in its own words
    joins a neighbour and is lost to its mapping. Damped, a frequent clause still pulls its
    medoid harder than a typo, but every distinct finding gets a say. Measured in
    ``bench/label_clusters.py``: macro F1 0.979 from k = 31 instead of k = 37 on the demo.
    """
    if distance == PAPER:
        return counts
    return 1.0 + np.log(counts)


def distance_matrix(texts: Sequence[str], counts: np.ndarray, distance: str) -> np.ndarray:
    """Weighted distance matrix laid out by medoid: ``matrix[j, i] = counts[i] * d(i, j)``.

    Row j is what every clause would pay to medoid j. FasterPAM reads ``diss[i, j]`` for a
    fixed candidate j and every i, so it gets the transpose (a view, no copy), whose columns
    are contiguous: about six times faster than a row-major matrix on 2,000 clauses.
    Edits: int32 unless the largest count times the longest possible distance could overflow
    it. Shares: float32 (a count of 10^6 keeps six significant digits of the share).
    """
    if distance == PAPER:
        longest = max(len(text) for text in texts)
        dtype = np.int32 if int(counts.max()) * longest < np.iinfo(np.int32).max else np.int64
    else:
        dtype = np.float32
    # A copy of the list as choices: rapidfuzz's same-object path is slower on this machine.
    matrix = cdist(texts, list(texts), distance, dtype=dtype)
    matrix *= counts.astype(dtype)[None, :]
    return matrix


def seed_medoids(
    matrix: np.ndarray,
    counts: np.ndarray,
    k: int,
    rng: np.random.Generator,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """Weighted k-medoids++: each next medoid drawn with probability count * distance.

    ``start`` (medoids of a smaller k) is kept and extended instead of drawing from scratch.
    """
    n = matrix.shape[0]
    if start is None or len(start) == 0:
        chosen = [int(rng.choice(n, p=counts / counts.sum()))]
    else:
        chosen = [int(m) for m in start]
    nearest = matrix[chosen].min(axis=0) / counts
    for _ in range(k - len(chosen)):
        weight = counts * nearest
        total = weight.sum()
        if total > 0:
            pick = int(rng.choice(n, p=weight / total))
        else:  # every point already sits on a medoid; take any other point
            pick = int(np.setdiff1d(np.arange(n), chosen)[0])
        chosen.append(pick)
        nearest = np.minimum(nearest, matrix[pick] / counts)
    return np.array(chosen, dtype=np.uintp)


def weighted_kmedoids(
    matrix: np.ndarray, counts: np.ndarray, k: int, seed: int, start: np.ndarray | None = None
) -> np.ndarray:
    """Medoids (indices into the matrix) minimising sum count_i * d(i, nearest medoid)."""
    n = matrix.shape[0]
    if k == n:
        return np.arange(n)
    if k == 1:  # each row sums what all clauses pay to that medoid
        total = np.int64 if np.issubdtype(matrix.dtype, np.integer) else np.float64
        return np.array([int(np.argmin(matrix.sum(axis=1, dtype=total)))])
    import kmedoids  # here, not at the top: it loads scikit-learn, which pages never need

    init = seed_medoids(matrix, counts, k, np.random.default_rng([seed, k]), start)
    with warnings.catch_warnings():
        # kmedoids warns that the seed is unused for the start; it still seeds the visit order.
        warnings.simplefilter("ignore", UserWarning)
        result = kmedoids.fasterpam(
            matrix.T, init, max_iter=_MAX_ITER, random_state=seed, n_cpu=threads(n)
        )
    return np.sort(np.asarray(result.medoids, dtype=np.int64))


def threads(n: int) -> int:
    """FasterPAM's parallel variant only pays off on large matrices (measured on 2 cores)."""
    return -1 if n >= _PARALLEL_FROM else 1


def sample(counts: np.ndarray, size: int, seed: int) -> np.ndarray:
    """A frequency-weighted sample without replacement (Efraimidis-Spirakis keys), sorted."""
    rng = np.random.default_rng(seed)
    keys = np.log(rng.random(len(counts))) / counts
    return np.sort(np.argpartition(keys, -size)[-size:])


@dataclass
class Assignment:
    labels: np.ndarray  # nearest medoid (position in the medoid list)
    nearest: np.ndarray  # distance to it
    second: np.ndarray  # distance to the second-nearest medoid (nearest again when k == 1)


def assign(texts: Sequence[str], medoid_texts: Sequence[str], distance: str) -> Assignment:
    """Nearest and second-nearest medoid of each text, in row chunks (memory O(chunk * k))."""
    labels, nearest, second = [], [], []
    for start in range(0, len(texts), _ASSIGN_CHUNK_ROWS):
        chunk = texts[start : start + _ASSIGN_CHUNK_ROWS]
        dist = cdist(chunk, medoid_texts, distance)
        order = np.argsort(dist, axis=1, kind="stable")[:, :2]
        rows = np.arange(len(chunk))
        labels.append(order[:, 0])
        nearest.append(dist[rows, order[:, 0]])
        second.append(dist[rows, order[:, -1]])
    return Assignment(np.concatenate(labels), np.concatenate(nearest), np.concatenate(second))


class Solver:
    """Weighted k-medoids over one fixed set of a polarity's unique clauses (all of them, or
    a sample): the matrix is built on first use, and each k's medoids are kept.

    A ``chained`` solver starts k from the medoids of k - 1 when it has them: cheap when k
    climbs one step at a time, as in the split of k. Final clusterings are not chained, so a
    polarity's clusters depend only on its clauses, its k and the seed.
    """

    def __init__(
        self,
        group: Group,
        rows: np.ndarray | None,
        seed: int,
        timings: dict,
        *,
        chained: bool = False,
        matrix: np.ndarray | None = None,
    ) -> None:
        self.group = group
        self.rows = rows  # indices into the group's unique clauses; None: all of them
        self.texts = group.texts if rows is None else [group.texts[i] for i in rows]
        weights = group.weights
        self.counts = weights if rows is None else weights[rows]
        self.seed = seed
        self.timings = timings
        self.chained = chained
        self._matrix = matrix
        self._medoids: dict[int, np.ndarray] = {}

    @property
    def size(self) -> int:
        return len(self.texts)

    def matrix(self) -> np.ndarray:
        if self._matrix is None:
            started = time.perf_counter()
            self._matrix = distance_matrix(self.texts, self.counts, self.group.distance)
            self.timings["distance"] += time.perf_counter() - started
        return self._matrix

    def medoids(self, k: int) -> np.ndarray:
        """Medoids of this set, as indices into it."""
        if k > self.size:
            raise ValueError(
                f"k[{self.group.polarity!r}]={k} is larger than the sample of "
                f"{self.size} clauses; raise sample_size or max_unique"
            )
        if k not in self._medoids:
            matrix = self.matrix()
            started = time.perf_counter()
            start = self._medoids.get(k - 1) if self.chained else None
            self._medoids[k] = weighted_kmedoids(matrix, self.counts, k, self.seed, start)
            self.timings["kmedoids"] += time.perf_counter() - started
        return self._medoids[k]

    def group_medoids(self, k: int) -> np.ndarray:
        """Medoids as indices into the group's unique clauses."""
        local = self.medoids(k)
        return local if self.rows is None else self.rows[local]

    def loss(self, k: int) -> float:
        """Weighted loss over this set (row j of the matrix: what each clause pays medoid j)."""
        return float(self.matrix()[self.medoids(k)].min(axis=0).sum(dtype=np.float64))

    @property
    def has_matrix(self) -> bool:
        return self._matrix is not None

    def release(self) -> None:
        self._matrix = None


class Proxy:
    """A weighted sample of one polarity (at most ``_PROXY_SIZE`` unique clauses): its loss
    curve, scaled to the whole polarity, says where one more cluster helps most. A polarity
    that small is its own proxy, and its solver is reused for the final clustering."""

    def __init__(self, group: Group, seed: int, timings: dict) -> None:
        n = len(group.texts)
        rows = sample(group.counts, _PROXY_SIZE, seed) if n > _PROXY_SIZE else None
        self.solver = Solver(group, rows, seed, timings, chained=True)
        self.scale = float(group.weights.sum() / self.solver.counts.sum())

    @property
    def whole(self) -> bool:
        return self.solver.rows is None

    def loss(self, k: int) -> float:
        return 0.0 if k >= self.solver.size else self.solver.loss(k) * self.scale

    def gain(self, k: int) -> float:
        """Loss removed by going from k to k + 1 clusters."""
        return self.loss(k) - self.loss(k + 1)


def main_solver(
    group: Group, proxy: Proxy, max_unique: int, sample_size: int, seed: int, timings: dict
) -> Solver:
    """The solver for the final clustering: a weighted sample above max_unique, else all
    unique clauses (reusing the proxy's matrix when the proxy is the whole polarity)."""
    n = len(group.texts)
    if n > max_unique:
        return Solver(group, sample(group.counts, min(sample_size, n), seed), seed, timings)
    shared = proxy.solver.matrix() if proxy.whole and proxy.solver.has_matrix else None
    return Solver(group, None, seed, timings, matrix=shared)


@dataclass
class GroupOutcome:
    medoids: np.ndarray  # indices into the group's unique clauses
    assignment: Assignment
    loss: float  # int under "paper"
    silhouette_sum: float  # sum over clauses of count * medoid silhouette


def evaluate(group: Group, medoids: np.ndarray, timings: dict) -> GroupOutcome:
    started = time.perf_counter()
    assignment = assign(group.texts, [group.texts[m] for m in medoids], group.distance)
    if group.distance != PAPER:
        central = central_medoids(group, medoids, assignment.labels)
        if not np.array_equal(central, medoids):
            medoids = central
            assignment = assign(group.texts, [group.texts[m] for m in medoids], group.distance)
    timings["assign"] += time.perf_counter() - started
    weighted = group.counts * assignment.nearest.astype(np.float64)
    loss = int(weighted.sum()) if group.distance == PAPER else float(weighted.sum())
    if len(medoids) > 1:
        # second == 0 means nearest == 0 too: the clause is a medoid's twin, silhouette 1.
        second = assignment.second.astype(np.float64)
        ratio = np.divide(assignment.nearest, second, out=np.zeros_like(second), where=second > 0)
        silhouette_sum = float((group.counts * (1.0 - ratio)).sum())
    else:  # one cluster: silhouette is 0 by convention
        silhouette_sum = 0.0
    return GroupOutcome(medoids, assignment, loss, silhouette_sum)


def central_medoids(group: Group, medoids: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each cluster's most central clause counting every occurrence: the medoid a card shows.

    Damped weights (``clause_weights``) decide which clusters exist; within one, the clause that
    costs its members least when each occurrence counts is its centre. Otherwise a typo one
    edit from every phrasing (主动脉梗化) can beat the phrasing written 3,000 times. The
    candidates are the cluster's ``_CENTRAL_CANDIDATES`` most written clauses, so the cost
    stays ``O(candidates * unique clauses)``; the caller then reassigns every clause.
    """
    central = np.array(medoids, copy=True)
    for position in range(len(medoids)):
        members = np.flatnonzero(labels == position)
        if len(members) < 2:
            continue
        order = np.argsort(-group.counts[members], kind="stable")[:_CENTRAL_CANDIDATES]
        candidates = members[order]
        dist = cdist(
            [group.texts[i] for i in candidates],
            [group.texts[i] for i in members],
            group.distance,
            dtype=np.float64,
        )
        cost = dist @ group.counts[members].astype(np.float64)
        best = float(cost.min())
        # Keep the k-medoids choice when it is among the best (no needless change).
        current = np.flatnonzero(candidates == medoids[position])
        if len(current) and cost[current[0]] <= best:
            continue
        central[position] = candidates[int(np.argmin(cost))]
    return central


__all__ = [
    "Assignment",
    "Group",
    "GroupOutcome",
    "Proxy",
    "Solver",
    "assign",
    "central_medoids",
    "clause_weights",
    "distance_matrix",
    "evaluate",
    "main_solver",
    "sample",
    "seed_medoids",
    "threads",
    "weighted_kmedoids",
]
