"""Reading numbers back from rendered results pages, and the engine's outputs they came from."""

import json
from html.parser import HTMLParser
from pathlib import Path

from training.runs import job_folder


class _Cells(HTMLParser):
    """Text of every element carrying data-metric, keyed by (table subset, row label, metric)."""

    def __init__(self) -> None:
        super().__init__()
        self.subset, self.label = "", ""
        self.open: list[tuple[str, str]] = []  # (tag, key) of metric elements being read
        self.cells: dict[tuple[str, str, str], str] = {}
        self.attrs: dict[tuple[str, str, str], dict] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and "data-subset" in attrs:
            self.subset = attrs["data-subset"]
        if tag == "tr":
            self.label = attrs.get("data-label", "")
        if "data-metric" in attrs:
            key = (self.subset, self.label, attrs["data-metric"])
            self.cells[key], self.attrs[key] = "", attrs
            self.open.append((tag, key))

    def handle_endtag(self, tag):
        if self.open and self.open[-1][0] == tag:
            self.open.pop()
        if tag == "table":
            self.subset = ""

    def handle_data(self, data):
        for _tag, key in self.open:
            self.cells[key] += data


def metric_cells(html: str) -> dict[tuple[str, str, str], str]:
    parser = _Cells()
    parser.feed(html)
    return {key: " ".join(text.split()) for key, text in parser.cells.items()}


class _Attrs(HTMLParser):
    def __init__(self, attribute: str) -> None:
        super().__init__()
        self.attribute, self.values = attribute, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self.attribute in attrs:
            self.values.append((tag, attrs))


def elements_with(html: str, attribute: str) -> list[tuple[str, dict]]:
    parser = _Attrs(attribute)
    parser.feed(html)
    return parser.values


def engine_outputs(job) -> tuple[dict, list[dict]]:
    """metrics.json and predictions.jsonl exactly as the engine wrote them."""
    folder = Path(job_folder(job)) / "run"
    metrics = json.loads((folder / "metrics.json").read_text())
    lines = (folder / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    return metrics, [json.loads(line) for line in lines if line.strip()]


def pct(value) -> str:
    return "—" if value is None else f"{value * 100:.1f}"


def num3(value) -> str:
    return "—" if value is None else f"{value:.3f}"
