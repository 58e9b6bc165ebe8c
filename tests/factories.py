"""Factories for team-owned rows: tests say what matters and get valid defaults for the rest."""

import itertools

from labeling.models import Instance, Report, Series, Study

_counter = itertools.count(1)


def make_study(team, **fields) -> Study:
    n = next(_counter)
    defaults = {"study_uid": f"1.2.826.0.1.3680043.10.1.{n}", "accession_number": f"ACC{n:06d}"}
    return Study.objects.create(team=team, **{**defaults, **fields})


def make_instance(study: Study, **fields) -> Instance:
    n = next(_counter)
    series, _ = Series.objects.get_or_create(
        team=study.team, study=study, series_uid=f"{study.study_uid}.1", defaults={"modality": "DX"}
    )
    defaults = {
        "sop_uid": f"{study.study_uid}.1.{n}",
        "rows": 64,
        "columns": 64,
        "photometric": "MONOCHROME2",
        "bits_stored": 12,
        "file_path": f"{study.team_id}/x/{n}.dcm",
    }
    return Instance.objects.create(
        team=study.team, study=study, series=series, **{**defaults, **fields}
    )


def make_report(study: Study, diagnosis: str = "心肺膈未见明显异常", **fields) -> Report:
    return Report.objects.create(team=study.team, study=study, diagnosis=diagnosis, **fields)
