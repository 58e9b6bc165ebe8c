"""A finished run's model card: what data, which split, which settings, how good, for what.

Built from the job row (its metrics are the engine's metrics.json without the history, plus the
patient-level split the worker counted) and the frozen label set it trained on; rendered as a
page, as JSON and as Markdown. Reads no torch: the web process serves it.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from jobs.models import Job

from . import model_registry


def intended_use() -> str:
    return _(
        "Research and quality-improvement use inside the team that trained it: ranking and "
        "triaging chest radiographs for review by a radiologist. Not a medical device; it must "
        "not make or replace a diagnosis."
    )


def limitations() -> list[str]:
    return [
        _("Labels were mined from free-text reports and curated; they contain noise."),
        _(
            "Trained and tested on one team's images; other hospitals, devices and populations "
            "may perform worse."
        ),  # fmt: skip
        _(
            "Confidence intervals come from bootstrapping the test split; small splits give "
            "wide intervals."
        ),  # fmt: skip
        _("Decision thresholds were chosen on the validation split and may need recalibration."),
    ]


def metric_rows(metrics: dict) -> list[dict]:
    """Test-split figures, one row per label and metric, with 95% intervals where computed."""
    test = metrics.get("test") or {}
    rows = []
    for key in ("auc", "macro_auc", "mean_ap", "accuracy", "sensitivity", "specificity"):
        value = test.get(key)
        if isinstance(value, dict):
            intervals = test.get(f"{key}_ci95") or {}
            rows += [_row(label, key, v, intervals.get(label), test.get("n"))
                     for label, v in value.items()]  # fmt: skip
        elif value is not None:
            label = "abnormal" if metrics.get("task") == "normal_abnormal" else ""
            rows.append(_row(label, key, value, test.get(f"{key}_ci95"), test.get("n")))
    return rows


def _row(label: str, metric: str, value, interval, n) -> dict:
    return {"label": label, "metric": metric, "value": value,
            "ci95": list(interval) if interval else None, "n": n}  # fmt: skip


def model_card(job: Job) -> dict:
    """The registry's card: only for training runs that succeeded."""
    from curation.models import LabelSet

    model_registry.registered_run(job)
    label_set = LabelSet.objects.filter(team=job.team, pk=job.config.get("label_set")).first()
    return run_card(job, job.metrics, label_set)


def run_card(job: Job, metrics: dict, label_set, missing: list[str] | None = None) -> dict:
    """The card of any run (the results page offers it for failed and evaluation runs too);
    ``missing`` says what it lacks, instead of failing."""
    engine = job.config.get("engine", {})
    return {
        "job": job.pk,
        "name": job.name,
        "tags": job.tags,
        "task": model_registry.run_task(job),
        "arch": metrics.get("arch") or engine.get("arch"),
        "current": model_registry.is_current(job),
        "trained": {
            "started": job.started_at,
            "finished": job.finished_at,
            "device": job.device,
            "worker": job.worker,
        },  # fmt: skip
        "data": {
            "label_set": label_set.pk if label_set else None,
            "label_set_version": label_set.version if label_set else None,
            "snapshot_hash": label_set.content_hash if label_set else None,
            "labels": [label["key"] for label in label_set.labels] if label_set else [],
        },
        "split": metrics.get("patient_split"),
        "task_images_per_split": metrics.get("split_counts"),
        "config": job.config,
        "best_epoch": metrics.get("best_epoch"),
        "metrics": metric_rows(metrics),
        "intended_use": intended_use(),
        "limitations": limitations(),
        "missing": list(missing or []),
    }


def to_markdown(card: dict) -> str:
    """The card as Markdown, for a repository or an email next to the weights."""
    lines = [f"# {card['name'] or _('Run')} (job {card['job']})", ""]
    lines += [f"- {_('Task')}: {card['task']}", f"- {_('Architecture')}: {card['arch']}",
              f"- {_('Tags')}: {', '.join(card['tags']) or '—'}",
              f"- {_('Data snapshot')}: " + (
                  f"label set v{card['data']['label_set_version']}, "
                  f"sha256 `{card['data']['snapshot_hash']}`"
                  if card["data"]["snapshot_hash"] else _("unknown")),
              f"- {_('Labels')}: {', '.join(card['data']['labels']) or '—'}", ""]  # fmt: skip
    if card.get("missing"):
        title = _("Missing")  # outside the f-string, where makemessages finds it
        lines += [f"## {title}", ""] + [f"- {item}" for item in card["missing"]] + [""]
    if card["split"]:
        lines += [f"## {_('Patient-level split')}", "", "| | patients | images |", "|---|---|---|"]
        lines += [f"| {name} | {side['patients']} | {side['images']} |"
                  for name, side in card["split"].items()]  # fmt: skip
        lines.append("")
    if card["task_images_per_split"]:
        title = _("Task images per split")
        lines += [f"## {title}", "", "| | images |", "|---|---|"]
        lines += [f"| {name} | {count} |" for name, count in card["task_images_per_split"].items()]
        lines.append("")
    lines += [f"## {_('Test metrics')}", "", "| label | metric | value | 95% CI | n |",
              "|---|---|---|---|---|"]  # fmt: skip
    for row in card["metrics"]:
        interval = "–".join(f"{v:.3f}" for v in row["ci95"]) if row["ci95"] else ""
        value = f"{row['value']:.4f}" if isinstance(row["value"], float) else row["value"]
        lines.append(f"| {row['label']} | {row['metric']} | {value} | {interval} | {row['n']} |")
    lines += ["", f"## {_('Intended use')}", "", card["intended_use"], "",
              f"## {_('Limitations')}", ""]  # fmt: skip
    lines += [f"- {item}" for item in card["limitations"]]
    lines += ["", f"## {_('Configuration')}", "", "```json",
              _json(card["config"]), "```", ""]  # fmt: skip
    return "\n".join(lines)


def _json(value) -> str:
    import json

    return json.dumps(value, indent=1, ensure_ascii=False, sort_keys=True)
