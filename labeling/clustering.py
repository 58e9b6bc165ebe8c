"""Clause clustering: edit distance + k-medoids, one polarity at a time, weighted by frequency.

Pure Python (no Django). The pipeline, after the paper, with the changes it needs (the
weighted k-medoids machinery of steps 3 to 5 is in ``labeling.medoids``):

1. Each clause is normalised (``labeling.text.normalize``) and its polarity read
   (``labeling.text.polarity``). Clauses are compared in their normalised form with the
   negation and hedge cues cut out (``labeling.text.without_cues``; ``strip_cues=False`` keeps
   them): the polarity already separates them, and inside one polarity 考虑支气管炎可能 should
   be near 支气管炎, not near 考虑肺气肿可能. Under the default "normalized" distance a
   synonym table then unifies the phrasings of one finding (``labeling.distance``). Identical
   (polarity, compared text) pairs are merged into one *unique clause* with a count: a report
   corpus repeats 心肺膈未见明显异常 thousands of times, and an N x N matrix over repeats
   would waste memory quadratically. The most written form merged into a unique clause
   represents it (its medoid text on a card).
2. **No cluster mixes polarities**: each polarity is clustered on its own. 未见胸腔积液 is two
   edits from 胸腔积液; clustering them together would label every "no effusion" report as
   effusion. ``k`` is split between the polarities present greedily, one cluster at a time to
   the polarity whose weighted loss it lowers most (at least one each): what clustering
   everything at once with an infinite distance between polarities would aim for, at the cost
   of a few k-medoids runs on a 1,000-clause sample per polarity. Pass a mapping such as
   ``{"affirmed": 12, "negated": 6, "uncertain": 3}`` to choose the split yourself.
3. Distances between the unique compared texts come from ``rapidfuzz.process.cdist`` on all
   cores, in the unit of the ``distance`` option (``labeling.distance.DISTANCES``): the
   default "normalized" (Levenshtein over the longer length, a share in [0, 1]) or "paper"
   (whole edits).
4. **Weighted k-medoids**. Under "paper" the objective is the paper's over *all* clauses,
   ``sum_i count_i * d(i, medoid(i))``, so a clause written 5,000 times pulls its medoid harder
   than a one-off typo. Under "normalized" each unique clause weighs ``1 + ln(count_i)``
   (``labeling.medoids.clause_weights``: a rare finding in its own words then gets its own
   cluster instead of joining a frequent neighbour). FasterPAM (``kmedoids``) takes no
   weights, but it only ever reads ``diss[point, medoid]``; scaling point ``i``'s entries by
   its weight makes its loss exactly the weighted objective, and the nearest medoid of a point
   is unchanged by the scaling.
   (Repeating points instead would grow the matrix with the corpus, which is what deduplication
   avoids.) The matrix is stored medoid-major and handed over transposed, so FasterPAM's scans
   over points are contiguous in memory. ``k == 1`` is solved directly, because the library's
   one-medoid shortcut reads the matrix the other way round. Initial medoids come from a weighted k-medoids++ draw seeded by
   ``seed``, and FasterPAM's visiting order is seeded too, so a run is reproducible; unique
   clauses are sorted first, so the order of the input does not matter either.
5. **Bounded memory**: a polarity with more than ``max_unique`` unique clauses is clustered on a
   frequency-weighted sample of ``sample_size`` of them (Efraimidis-Spirakis keys: frequent
   clauses are almost surely in), and every unique clause is then assigned to its nearest
   medoid. Peak memory is about ``4 * max(max_unique, sample_size) ** 2`` bytes for the matrix
   (1.6 GB at the default 20,000, one polarity at a time) plus ``O(unique clauses * k)``; the
   measured peak for 200,000 clauses is 1.6 GB under "normalized" (58,000 unique; the
   negated 19,300 are under ``max_unique``, so their whole matrix is built) and 600 MB under
   "paper" (68,000 unique, the large polarities sampled) (``bench/clustering.py --part c``).
6. **Outliers**: each clause carries its distance to its medoid (``ClusteringResult.distances``)
   and is an outlier beyond the run's ``outlier_threshold`` (default
   ``DEFAULT_OUTLIER_THRESHOLD``: 0.6 of the longer text, or 5 edits); a cluster's ``purity``
   is the share of its clauses within it. One threshold for the run, not the cluster's own
   spread: see ``_assemble``.

Cluster quality is reported as the count-weighted *medoid silhouette* (``1 - a/b`` with ``a``
and ``b`` the distances to the nearest and second-nearest medoid of the same polarity): it
needs only ``unique * k`` distances, so it scales to the sampled case.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from labeling.distance import (
    DEFAULT_DISTANCE,
    DISTANCES,
    NORMALIZED,
    PAPER,
    Synonyms,
    check_distance,
    check_threshold,
    synonyms_for,
)
from labeling.medoids import Group, GroupOutcome, Proxy, assign, evaluate, main_solver
from labeling.text import POLARITIES, CueLists, normalize, polarity, read_clause, without_cues

DEFAULT_MAX_UNIQUE = 20_000
DEFAULT_SAMPLE_SIZE = 10_000
# Outliers by default: members that differ from their medoid in more than half of the longer
# text (normalized), or in more than this many edits (paper). Tuned in bench/label_clusters.py.
DEFAULT_OUTLIER_THRESHOLD: dict[str, float | int] = {NORMALIZED: 0.6, PAPER: 5}


@dataclass(frozen=True)
class Cluster:
    """One proposed cluster: its medoid is a real clause, indexed into the input."""

    index: int
    polarity: str
    medoid: int
    medoid_text: str  # the medoid clause as written
    normalized: str  # the medoid's normalised text
    compared: str  # the text distances were measured on (normalised, cues cut out)
    size: int  # clauses in the cluster, repeats included
    unique_size: int  # distinct compared texts in the cluster
    outlier_count: int = 0  # clauses (repeats included) beyond the run's outlier threshold
    outlier_unique: int = 0  # distinct compared texts among them

    @property
    def purity(self) -> float:
        """Share of the cluster's clauses within the outlier threshold of its medoid."""
        return 1.0 - self.outlier_count / self.size if self.size else 1.0


@dataclass(frozen=True)
class ClusteringResult:
    """What a clustering run proposes, plus what a run record should store.

    Clusters are numbered by size, largest first (ties: polarity, then medoid text).
    """

    assignments: np.ndarray  # cluster index of each input clause, in input order
    medoids: np.ndarray  # per cluster: index into the input clauses of its medoid
    clusters: tuple[Cluster, ...]
    polarities: tuple[str, ...]  # polarity of each input clause
    normalized: tuple[str, ...]  # normalised text of each input clause
    k: dict[str, int]  # clusters per polarity
    loss: float  # sum over all clauses of the distance to their medoid (int under "paper")
    silhouette: float  # count-weighted medoid silhouette, in [-1, 1]
    n_clauses: int
    n_unique: int
    sampled: bool  # True when some polarity exceeded max_unique and was sampled
    seed: int
    timings: dict[str, float]  # seconds: prepare, distance, kmedoids, assign, total
    distances: np.ndarray  # per input clause: distance to its medoid, in the option's unit
    outliers: np.ndarray  # per input clause: bool, distance beyond outlier_threshold
    distance: str  # the distance option ("normalized" or "paper")
    outlier_threshold: float | int  # the threshold used, in the option's unit

    @property
    def sizes(self) -> np.ndarray:
        """Clauses per cluster, repeats included (the paper keeps the largest ten)."""
        return np.array([cluster.size for cluster in self.clusters], dtype=np.int64)


@dataclass(frozen=True)
class KCurve:
    """Loss and silhouette over a range of k, for the page to plot and suggest from."""

    ks: tuple[int, ...]
    losses: tuple[int, ...]
    silhouettes: tuple[float, ...]
    elbow_k: int  # where the loss curve bends most (kneedle on the normalised curve)
    best_silhouette_k: int
    suggested_k: int  # the elbow: the medoid silhouette keeps rising as k grows


# --- preparing the unique clauses -----------------------------------------------------------


@dataclass
class _Prepared:
    groups: dict[str, Group]
    clause_group: np.ndarray  # per input clause: index into POLARITIES
    clause_local: np.ndarray  # per input clause: index into its group's unique clauses
    polarities: tuple[str, ...]
    normalized: tuple[str, ...]


def _prepare(
    clauses: Sequence[str],
    cues: CueLists | None,
    polarities: Sequence[str] | None,
    strip_cues: bool,
    distance: str = PAPER,
    synonyms: Synonyms | None = None,
) -> _Prepared:
    """Normalise, read polarity and deduplicate, once per distinct raw clause."""
    if isinstance(clauses, str):
        raise TypeError("clauses must be a sequence of clause strings, not one string")
    if len(clauses) == 0:
        raise ValueError("clauses is empty: there is nothing to cluster")
    if polarities is not None and len(polarities) != len(clauses):
        raise ValueError(f"polarities has {len(polarities)} entries but clauses has {len(clauses)}")
    seen: dict[str, tuple[str, str, str]] = {}
    norms: list[str] = []
    compared: list[str] = []
    pols: list[str] = []
    for i, clause in enumerate(clauses):
        if not isinstance(clause, str):
            raise TypeError(f"clauses[{i}] must be text, not {type(clause).__name__}")
        if clause not in seen:
            reading = read_clause(clause, cues)
            if not reading.normalized:
                raise ValueError(f"clauses[{i}] has no text left after normalisation: {clause!r}")
            shown = reading.compared if strip_cues else reading.normalized
            if synonyms is not None:
                shown = synonyms.apply(shown)
            seen[clause] = (reading.normalized, shown, reading.polarity)
        norm, shown, pol = seen[clause]
        if polarities is not None:
            pol = polarities[i]
            if pol not in POLARITIES:
                raise ValueError(f"polarities[{i}] is {pol!r}; expected one of {POLARITIES}")
        norms.append(norm)
        compared.append(shown)
        pols.append(pol)
    return _group(norms, compared, pols, distance)


def _group(norms: list[str], compared: list[str], pols: list[str], distance: str) -> _Prepared:
    counts: dict[tuple[str, str], int] = {}
    # Per unique clause, the occurrences and first input index of each normalised form merged
    # into it (synonyms and cut cues merge several): the most written form represents it, so
    # the medoid shown does not depend on the order of the input.
    forms: dict[tuple[str, str], dict[str, list[int]]] = {}
    for i, key in enumerate(zip(pols, compared, strict=True)):
        counts[key] = counts.get(key, 0) + 1
        tally = forms.setdefault(key, {}).setdefault(norms[i], [0, i])
        tally[0] += 1
    first = {
        key: min(by_form.items(), key=lambda item: (-item[1][0], item[0]))[1][1]
        for key, by_form in forms.items()
    }
    groups: dict[str, Group] = {}
    local: dict[tuple[str, str], int] = {}
    for pol in POLARITIES:
        keys = sorted(key for key in counts if key[0] == pol)
        if not keys:
            continue
        for j, key in enumerate(keys):
            local[key] = j
        groups[pol] = Group(
            polarity=pol,
            texts=[key[1] for key in keys],
            counts=np.array([counts[key] for key in keys], dtype=np.int64),
            distance=distance,
            first=np.array([first[key] for key in keys], dtype=np.int64),
        )
    pol_index = {pol: i for i, pol in enumerate(POLARITIES)}
    keys_in_order = list(zip(pols, compared, strict=True))
    return _Prepared(
        groups=groups,
        clause_group=np.array([pol_index[pol] for pol in pols], dtype=np.int8),
        clause_local=np.array([local[key] for key in keys_in_order], dtype=np.int64),
        polarities=tuple(pols),
        normalized=tuple(norms),
    )


# --- splitting k between polarities ---------------------------------------------------------


def _allocate_k(
    k: int | Mapping[str, int], groups: Mapping[str, Group], proxies: Mapping[str, Proxy]
) -> dict[str, int]:
    """Clusters per polarity: a caller's mapping checked, or an int split by loss gained."""
    if isinstance(k, Mapping):
        return _check_k_mapping(k, {pol: len(group.texts) for pol, group in groups.items()})
    k = _check_total_k(k, groups)
    return _split_k_path(k, groups, proxies)[k]


def _check_total_k(k: int, groups: Mapping[str, Group]) -> int:
    unique = {pol: len(group.texts) for pol, group in groups.items()}
    total = sum(unique.values())
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise TypeError(f"k must be an int or a mapping of polarity to int, not {type(k).__name__}")
    k = int(k)
    if k <= 0:
        raise ValueError(f"k must be at least 1, got {k}")
    if k > total:
        raise ValueError(f"k={k} is larger than the number of unique clauses ({total})")
    if k < len(unique):
        raise ValueError(
            f"k={k} is smaller than the number of polarities present ({len(unique)}: "
            f"{', '.join(unique)}); clusters never mix polarities"
        )
    return k


def _split_k_path(
    k_max: int, groups: Mapping[str, Group], proxies: Mapping[str, Proxy]
) -> dict[int, dict[str, int]]:
    """The split of every total k up to k_max, each one cluster more than the last.

    Greedy on the loss: each further cluster goes to the polarity whose weighted loss it lowers
    most. This is the split that clustering all clauses at once, with an infinite distance
    between polarities, would aim for. Loss curves come from a small weighted sample of each
    polarity (``Proxy``), so the split costs little; ties and polarities whose sample is
    exhausted fall back to unique clauses per cluster (D'Hondt).
    """
    unique = {pol: len(group.texts) for pol, group in groups.items()}
    allocation = dict.fromkeys(unique, 1)
    path = {len(unique): dict(allocation)}
    for total in range(len(unique) + 1, k_max + 1):
        open_groups = [pol for pol in unique if allocation[pol] < unique[pol]]
        best = max(
            open_groups,
            key=lambda pol: (
                proxies[pol].gain(allocation[pol]) if len(open_groups) > 1 else 0.0,
                unique[pol] / (allocation[pol] + 1),
                -POLARITIES.index(pol),
            ),
        )
        allocation[best] += 1
        path[total] = dict(allocation)
    return path


def _check_k_mapping(k: Mapping[str, int], unique: Mapping[str, int]) -> dict[str, int]:
    unknown = set(k) - set(POLARITIES)
    if unknown:
        raise ValueError(f"k names unknown polarities {sorted(unknown)}; known: {POLARITIES}")
    allocation: dict[str, int] = {}
    for pol, n in unique.items():
        if pol not in k:
            raise ValueError(f"k has no entry for polarity {pol!r}, which has {n} unique clauses")
        value = k[pol]
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
            raise ValueError(f"k[{pol!r}] must be a positive int, got {value!r}")
        if value > n:
            raise ValueError(
                f"k[{pol!r}]={value} is larger than the number of unique {pol} clauses ({n})"
            )
        allocation[pol] = int(value)
    for pol in set(k) - set(unique):
        if k[pol] != 0:
            raise ValueError(f"k[{pol!r}]={k[pol]} but there are no {pol} clauses")
    return allocation


# --- checks and timings -------------------------------------------------------


def _check_sizes(max_unique: int, sample_size: int | None) -> int:
    if max_unique < 1:
        raise ValueError(f"max_unique must be at least 1, got {max_unique}")
    size = min(max_unique, DEFAULT_SAMPLE_SIZE) if sample_size is None else sample_size
    if size < 1:
        raise ValueError(f"sample_size must be at least 1, got {size}")
    return size


def _new_timings() -> dict[str, float]:
    return {
        "prepare": 0.0,
        "distance": 0.0,
        "kmedoids": 0.0,
        "assign": 0.0,
        "total": 0.0,
    }


# --- public API -------------------------------------------------------------------------------


def cluster_clauses(
    clauses: Sequence[str],
    k: int | Mapping[str, int],
    seed: int = 0,
    *,
    cues: CueLists | None = None,
    polarities: Sequence[str] | None = None,
    max_unique: int = DEFAULT_MAX_UNIQUE,
    sample_size: int | None = None,
    strip_cues: bool = True,
    distance: str = DEFAULT_DISTANCE,
    synonyms: Iterable[Sequence[str]] | Synonyms | None = None,
    outlier_threshold: float | None = None,
) -> ClusteringResult:
    """Cluster clauses by edit distance with weighted k-medoids, never mixing polarities.

    ``k`` is the total number of clusters (split between polarities where each lowers the
    loss most) or a mapping polarity -> clusters. ``polarities`` overrides the polarity read
    with ``cues`` (for a caller that stored it). A polarity with more than ``max_unique`` unique clauses is
    clustered on a weighted sample of ``sample_size`` (default ``min(max_unique, 10,000)``).

    ``distance`` is one of ``DISTANCES`` (``labeling.distance``): "normalized" (the default:
    synonyms, then edits over the longer length) or "paper" (whole edits). ``synonyms`` is a
    team's table of (variant, canonical) pairs under "normalized" (default
    ``DEFAULT_SYNONYMS``); "paper" takes none. A clause further from its medoid than
    ``outlier_threshold`` (the option's unit; default ``DEFAULT_OUTLIER_THRESHOLD``) is an
    outlier. Raises ``ValueError`` for an empty input, a clause with no text, k out of range,
    an unknown distance, a bad synonym table or threshold.
    """
    started = time.perf_counter()
    timings = _new_timings()
    size = _check_sizes(max_unique, sample_size)
    table, threshold = _check_options(distance, synonyms, outlier_threshold)
    prepared = _prepare(clauses, cues, polarities, strip_cues, distance, table)
    timings["prepare"] = time.perf_counter() - started
    proxies = {pol: Proxy(group, seed, timings) for pol, group in prepared.groups.items()}
    allocation = _allocate_k(k, prepared.groups, proxies)
    outcomes: dict[str, GroupOutcome] = {}
    sampled = False
    for pol, group in prepared.groups.items():
        solver = main_solver(group, proxies[pol], max_unique, size, seed, timings)
        sampled |= len(group.texts) > max_unique
        outcomes[pol] = evaluate(group, solver.group_medoids(allocation[pol]), timings)
        solver.release()  # free the matrix before the next polarity builds its own
        proxies[pol].solver.release()
    facts = _RunFacts(sampled, seed, distance, threshold, timings)
    result = _assemble(clauses, prepared, outcomes, allocation, facts)
    timings["total"] = time.perf_counter() - started
    return result


def _check_options(
    distance: str, synonyms: Iterable[Sequence[str]] | Synonyms | None, threshold: object
) -> tuple[Synonyms, float | int]:
    check_distance(distance)
    table = synonyms_for(distance, synonyms)
    if threshold is None:
        threshold = DEFAULT_OUTLIER_THRESHOLD[distance]
    return table, check_threshold(threshold, distance, "outlier_threshold")


@dataclass(frozen=True)
class _RunFacts:
    sampled: bool
    seed: int
    distance: str
    outlier_threshold: float | int
    timings: dict[str, float]


def _assemble(
    clauses: Sequence[str],
    prepared: _Prepared,
    outcomes: Mapping[str, GroupOutcome],
    allocation: dict[str, int],
    facts: _RunFacts,
) -> ClusteringResult:
    """Number clusters by size, map every input clause to its cluster, flag the outliers.

    An outlier is a clause further from its medoid than the run's threshold: one question,
    in one unit, on every card. A rule on the cluster's own spread was not taken: a cluster
    of one clause repeated 3,000 times has no spread, so its first honest variant would be
    flagged, while a loose cluster would hide a wrong member inside its wide spread.
    """
    threshold = facts.outlier_threshold
    drafts = []
    for pol, outcome in outcomes.items():
        group = prepared.groups[pol]
        n = len(outcome.medoids)
        labels = outcome.assignment.labels
        far = outcome.assignment.nearest > threshold
        sizes = np.bincount(labels, weights=group.counts, minlength=n)
        unique_sizes = np.bincount(labels, minlength=n)
        outlier_sizes = np.bincount(labels, weights=group.counts * far, minlength=n)
        outlier_unique = np.bincount(labels, weights=far.astype(np.int64), minlength=n)
        for position, medoid in enumerate(outcome.medoids):
            drafts.append(
                (pol, position, int(medoid), int(sizes[position]), int(unique_sizes[position]),
                 int(outlier_sizes[position]), int(outlier_unique[position]))
            )  # fmt: skip
    drafts.sort(key=lambda d: (-d[3], POLARITIES.index(d[0]), prepared.groups[d[0]].texts[d[2]]))
    clusters, global_index = [], {}
    for index, (pol, position, medoid, size, unique_size, n_out, u_out) in enumerate(drafts):
        group = prepared.groups[pol]
        first = int(group.first[medoid])
        clusters.append(
            Cluster(
                index=index,
                polarity=pol,
                medoid=first,
                medoid_text=clauses[first],
                normalized=prepared.normalized[first],
                compared=group.texts[medoid],
                size=size,
                unique_size=unique_size,
                outlier_count=n_out,
                outlier_unique=u_out,
            )
        )
        global_index[(pol, position)] = index
    n_clauses = len(prepared.clause_group)
    assignments = np.empty(n_clauses, dtype=np.int64)
    distances = np.empty(n_clauses, dtype=np.int64 if facts.distance == PAPER else np.float64)
    for pol, outcome in outcomes.items():
        to_global = np.array([global_index[(pol, p)] for p in range(len(outcome.medoids))])
        mask = prepared.clause_group == POLARITIES.index(pol)
        local = prepared.clause_local[mask]
        assignments[mask] = to_global[outcome.assignment.labels[local]]
        distances[mask] = outcome.assignment.nearest[local]
    return ClusteringResult(
        assignments=assignments,
        medoids=np.array([cluster.medoid for cluster in clusters], dtype=np.int64),
        clusters=tuple(clusters),
        polarities=prepared.polarities,
        normalized=prepared.normalized,
        k=allocation,
        loss=sum(outcome.loss for outcome in outcomes.values()),
        silhouette=sum(o.silhouette_sum for o in outcomes.values()) / n_clauses,
        n_clauses=n_clauses,
        n_unique=sum(len(group.texts) for group in prepared.groups.values()),
        sampled=facts.sampled,
        seed=facts.seed,
        timings=facts.timings,
        distances=distances,
        outliers=distances > threshold,
        distance=facts.distance,
        outlier_threshold=threshold,
    )


def count_unique(
    clauses: Sequence[str],
    *,
    cues: CueLists | None = None,
    polarities: Sequence[str] | None = None,
    strip_cues: bool = True,
    distance: str = DEFAULT_DISTANCE,
    synonyms: Iterable[Sequence[str]] | Synonyms | None = None,
) -> dict[str, int]:
    """Unique clauses per polarity as ``cluster_clauses`` would count them with these options:
    the largest k it accepts is their sum (a synonym table merges texts, so fewer than the
    distinct normalised texts)."""
    table, _ = _check_options(distance, synonyms, None)
    prepared = _prepare(clauses, cues, polarities, strip_cues, distance, table)
    return {pol: len(group.texts) for pol, group in prepared.groups.items()}


def suggest_k(
    clauses: Sequence[str],
    k_values: Iterable[int] | None = None,
    seed: int = 0,
    *,
    cues: CueLists | None = None,
    polarities: Sequence[str] | None = None,
    max_unique: int = DEFAULT_MAX_UNIQUE,
    sample_size: int | None = None,
    strip_cues: bool = True,
    distance: str = DEFAULT_DISTANCE,
    synonyms: Iterable[Sequence[str]] | Synonyms | None = None,
) -> KCurve:
    """Loss (elbow) and medoid silhouette for each k, computing each polarity's matrix once.

    ``k_values`` defaults to every k from the number of polarities present up to 40 (or the
    number of unique clauses). Each k is split between polarities as in ``cluster_clauses``;
    ``distance`` and ``synonyms`` as there (losses are in the option's unit).
    """
    size = _check_sizes(max_unique, sample_size)
    table, _ = _check_options(distance, synonyms, None)
    prepared = _prepare(clauses, cues, polarities, strip_cues, distance, table)
    n_unique = sum(len(group.texts) for group in prepared.groups.values())
    if k_values is None:
        k_values = range(len(prepared.groups), min(40, n_unique) + 1)
    ks = sorted(set(k_values))
    if not ks:
        raise ValueError("k_values is empty: give at least one k to try")
    for k in ks:  # the same checks and messages as cluster_clauses
        _check_total_k(k, prepared.groups)
    timings = _new_timings()
    proxies = {pol: Proxy(group, seed, timings) for pol, group in prepared.groups.items()}
    path = _split_k_path(ks[-1], prepared.groups, proxies)
    allocations = [path[k] for k in ks]
    losses: list[float] = [0] * len(ks)
    silhouettes = [0.0] * len(ks)
    for pol, group in prepared.groups.items():
        solver = main_solver(group, proxies[pol], max_unique, size, seed, timings)
        solved: dict[int, GroupOutcome] = {}
        for i, allocation in enumerate(allocations):
            k_pol = allocation[pol]
            if k_pol not in solved:
                solved[k_pol] = evaluate(group, solver.group_medoids(k_pol), timings)
            losses[i] += solved[k_pol].loss
            silhouettes[i] += solved[k_pol].silhouette_sum
        solver.release()
        proxies[pol].solver.release()
    n_clauses = len(prepared.clause_group)
    silhouettes = [s / n_clauses for s in silhouettes]
    elbow = _elbow(ks, losses)
    best = ks[int(np.argmax(silhouettes))]
    return KCurve(tuple(ks), tuple(losses), tuple(silhouettes), elbow, best, elbow)


def _elbow(ks: Sequence[int], losses: Sequence[float]) -> int:
    """Kneedle: the k whose normalised loss lies furthest below the chord of the curve."""
    if len(ks) < 3 or losses[0] == losses[-1]:
        return ks[0]
    x = (np.asarray(ks, dtype=float) - ks[0]) / (ks[-1] - ks[0])
    y = (np.asarray(losses, dtype=float) - min(losses)) / (max(losses) - min(losses))
    return ks[int(np.argmax((1.0 - x) - y))]


def assign_to_medoids(
    new_clauses: Sequence[str],
    medoid_texts: Sequence[str],
    max_distance: float,
    *,
    cues: CueLists | None = None,
    medoid_polarities: Sequence[str] | None = None,
    strip_cues: bool = True,
    distance: str = DEFAULT_DISTANCE,
    synonyms: Iterable[Sequence[str]] | Synonyms | None = None,
) -> list[int | None]:
    """For each new clause, the index of the nearest medoid of the same polarity, or None.

    Used to label reports that arrive after curation: a clause within ``max_distance`` of a
    curated medoid (compared as in ``cluster_clauses``, with the same ``distance`` and
    ``synonyms``) takes it; anything further goes to the unmapped queue. The unit of
    ``max_distance`` is the option's: under "normalized" a share of the longer text in
    [0, 1] (0.25: a quarter of its characters may differ), under "paper" a whole number of
    edits (``labeling.distance.edits_to_share`` converts a stored edit count). Pass medoids
    as written (a trailing "？" is a hedge) or give their polarities. Ties go to the earlier
    medoid.
    """
    table, _ = _check_options(distance, synonyms, None)
    max_distance = check_threshold(max_distance, distance)
    if medoid_polarities is not None and len(medoid_polarities) != len(medoid_texts):
        raise ValueError(
            f"medoid_polarities has {len(medoid_polarities)} entries "
            f"but medoid_texts has {len(medoid_texts)}"
        )
    if len(new_clauses) == 0:
        return []
    new = _prepare(new_clauses, cues, None, strip_cues, distance, table)
    found: list[int | None] = [None] * len(new_clauses)
    if len(medoid_texts) == 0:
        return found
    medoid_pols = (
        list(medoid_polarities)
        if medoid_polarities is not None
        else [polarity(text, cues) for text in medoid_texts]
    )
    form = (lambda text: without_cues(text, cues)) if strip_cues else normalize
    medoid_keys = [table.apply(form(text)) for text in medoid_texts]
    for pol, group in new.groups.items():
        candidates = [i for i, p in enumerate(medoid_pols) if p == pol]
        if not candidates:
            continue
        assignment = assign(group.texts, [medoid_keys[i] for i in candidates], distance)
        mask = new.clause_group == POLARITIES.index(pol)
        for clause_index in np.flatnonzero(mask):
            local = new.clause_local[clause_index]
            if assignment.nearest[local] <= max_distance:
                found[clause_index] = candidates[int(assignment.labels[local])]
    return found


def purity(assignments: Sequence[int], truth: Sequence[object]) -> float:
    """Share of items whose cluster's majority truth label is their own (1.0 = pure)."""
    if len(assignments) != len(truth):
        raise ValueError(f"{len(assignments)} assignments but {len(truth)} truth labels")
    if len(assignments) == 0:
        raise ValueError("purity of nothing is undefined: no assignments given")
    by_cluster: dict[int, dict[object, int]] = {}
    for cluster, label in zip(assignments, truth, strict=True):
        tally = by_cluster.setdefault(int(cluster), {})
        tally[label] = tally.get(label, 0) + 1
    majority = sum(max(tally.values()) for tally in by_cluster.values())
    return majority / len(assignments)


__all__ = [
    "DEFAULT_DISTANCE",
    "DEFAULT_MAX_UNIQUE",
    "DEFAULT_OUTLIER_THRESHOLD",
    "DEFAULT_SAMPLE_SIZE",
    "Cluster",
    "ClusteringResult",
    "DISTANCES",
    "KCurve",
    "assign_to_medoids",
    "cluster_clauses",
    "count_unique",
    "purity",
    "suggest_k",
]
