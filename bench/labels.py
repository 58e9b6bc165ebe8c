"""Label-text figures of issue #15: scope-aware polarity and normal statements, by corpus half.

    .venv/bin/python bench/labels.py

Corpora (``tests/labeling/corpora``): 480 English impressions and the Chinese case tables, each
with expected tags, split into a ``tune`` and a ``heldout`` half; and the demo's
``generate_reports(16569, seed=0)``, scored with the generator's clause truth. Goals:

* mixed-scope cases (a sentence with more than one finding or polarity): every expected finding
  read with its expected polarity, and only with it, in >= 98% of cases;
* normal-report recall: >= 97% of normal reports have no affirmed or uncertain abnormal mention
  (clauses ``read_clause`` flags ``normal`` count for nothing);
* affirmed-finding recall: >= 97% of reports that state a finding affirm it.

"exact" is the share whose read tags equal the expected ones (no extra finding either); "normal
flag" the share of the demo's normal statements that ``read_clause`` flags normal.

The "fresh" rows are sentences written after tuning, in phrasings the two corpora lack (the
held-out halves share sentences with the tune halves); their figures are printed, not held to
the goals. Their first run read English mixed 17/19, normal 12/13, affirmed 28/29 and
Chinese 14/14, 8/8, 27/27; the two English misses then got rules, so later runs are not held
out. Also timed: split and read (``split_clauses`` + ``read_clause`` on every clause) of the 16,569
demo reports, best of three. Then ``bench.label_clusters.report()`` runs, where that module
exists. Which finding a clause names is the corpus module's keyword table, for measurement only.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labeling.synth import generate_reports
from labeling.text import read_clause, split_clauses
from tests.labeling.corpora import HALVES, Score, chinese, english, fresh, score, synth_score

PAPER_REPORTS = 16_569
GOALS = {"mixed": 0.98, "normal": 0.97, "affirmed": 0.97}


def _cell(results: list[bool]) -> str:
    share = Score.share(results)
    return (
        "      -        "
        if share is None
        else f"{share:7.1%} ({sum(results):3d}/{len(results):3d})"
    )


def _row(name: str, result: Score, held_to_goals: bool = True) -> bool:
    met = all(
        Score.share(getattr(result, key)) is None or Score.share(getattr(result, key)) >= goal
        for key, goal in GOALS.items()
    )
    cells = "  ".join(_cell(getattr(result, key)) for key in (*GOALS, "exact"))
    verdict = ("met" if met else "MISSED") if held_to_goals else "(not held to them)"
    print(f"{name:<22}{cells}  {verdict}")
    return met


def corpora() -> bool:
    print(f"{'':<22}{'mixed':<17}{'normal':<17}{'affirmed':<17}{'exact':<17}goals")
    met = True
    for language, cases in (("English", english()), ("Chinese tables", chinese())):
        for half in HALVES:
            chosen = [case for case in cases if case.half == half]
            met &= _row(
                f"{language} {half}", score(chosen, "en" if language == "English" else "zh")
            )
    for language in ("en", "zh"):
        _row(f"fresh {language}", score(fresh(language), language), held_to_goals=False)
    reports = generate_reports(PAPER_REPORTS, seed=0)
    for half in HALVES:
        chosen = reports[0::2] if half == HALVES[0] else reports[1::2]
        result, flags = synth_score(chosen)
        met &= _row(f"demo {half}", result)
        print(f"{'':<22}normal flag on the demo's normal statements: {_cell(flags)}")
    return met


def split_and_read_seconds() -> float:
    diagnoses = [report.diagnosis for report in generate_reports(PAPER_REPORTS, seed=0)]
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for diagnosis in diagnoses:
            for clause in split_clauses(diagnosis):
                read_clause(clause)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    met = corpora()
    print(f"goals: {'all met' if met else 'some MISSED'}")
    print(f"split + read, {PAPER_REPORTS:,} demo reports: {split_and_read_seconds():.2f} s")
    if importlib.util.find_spec("bench.label_clusters") is not None:
        for line in importlib.import_module("bench.label_clusters").report():
            print(line)


if __name__ == "__main__":
    main()
