"""Writes en_impressions.jsonl: English chest radiograph impressions with their expected tags.

    .venv/bin/python tests/labeling/corpora/make_en_corpus.py

The committed jsonl is the corpus; this script (seeded) only says how it was put together.
Every sentence below was written by hand in the styles of US chest radiograph impressions (lists,
"No acute cardiopulmonary abnormality", hedges, comparisons, "XXXX" de-identification
redactions as in the Indiana University collection). A sentence carries its expected tags:
``finding+`` affirmed, ``finding-`` negated, ``finding?`` uncertain, with the finding names of
``tests.labeling.corpora.EN_FINDINGS``. ``normal`` marks a sentence that asserts normality.
Impressions are one to four sentences, joined as prose, as a numbered list or one per line.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).with_name("en_impressions.jsonl")
N_IMPRESSIONS = 480

# (text, tags, kind): kind is "normal" (asserts normality), "mixed" (more than one polarity or
# finding in one sentence), "pseudo" (a negation word that negates nothing), "hedge", "plain".
SENTENCES: tuple[tuple[str, str, str], ...] = (
    # --- normal statements
    ("No acute cardiopulmonary abnormality.", "", "normal"),
    ("No acute cardiopulmonary abnormality identified.", "", "normal"),
    ("No acute cardiopulmonary disease.", "", "normal"),
    ("No acute cardiopulmonary process.", "", "normal"),
    ("No active disease.", "", "normal"),
    ("No evidence of active disease.", "", "normal"),
    ("No acute disease.", "", "normal"),
    ("No acute findings.", "", "normal"),
    ("No acute pulmonary findings.", "", "normal"),
    ("Negative chest x-ray.", "", "normal"),
    ("Negative chest radiograph.", "", "normal"),
    ("Normal chest x-ray.", "", "normal"),
    ("Normal chest.", "", "normal"),
    ("Clear lungs.", "", "normal"),
    ("Lungs are clear.", "", "normal"),
    ("The lungs are clear bilaterally.", "", "normal"),
    ("Heart size normal.", "", "normal"),
    ("Heart size is normal.", "", "normal"),
    ("Normal heart size.", "", "normal"),
    ("Heart size and pulmonary vascularity appear within normal limits.", "", "normal"),
    ("The cardiomediastinal silhouette is within normal limits.", "", "normal"),
    ("Normal cardiomediastinal silhouette.", "", "normal"),
    ("XXXX are normal.", "", "normal"),
    ("The XXXX are intact.", "", "normal"),
    ("Osseous structures are unremarkable.", "", "normal"),
    ("No acute osseous abnormality.", "", "normal"),
    ("Unremarkable chest radiograph.", "", "normal"),
    ("No radiographic evidence of acute cardiopulmonary disease.", "", "normal"),
    ("No acute abnormality.", "", "normal"),
    ("No XXXX of acute cardiopulmonary disease.", "", "normal"),
    # --- negated findings
    ("No pneumothorax.", "pneumothorax-", "plain"),
    ("No pleural effusion.", "effusion-", "plain"),
    ("No focal consolidation.", "consolidation-", "plain"),
    ("No pneumonia.", "pneumonia-", "plain"),
    ("No pulmonary edema.", "edema-", "plain"),
    ("No focal airspace disease.", "consolidation-", "plain"),
    ("No pleural effusion or pneumothorax.", "effusion- pneumothorax-", "plain"),
    (
        "No pneumonia, effusions, edema, pneumothorax, adenopathy, nodules or masses.",
        "pneumonia- effusion- edema- pneumothorax- adenopathy- nodule- mass-",
        "plain",
    ),
    (
        "No focal consolidation, pleural effusion or pneumothorax.",
        "consolidation- effusion- pneumothorax-",
        "plain",
    ),
    ("There is no pneumothorax or large pleural effusion.", "pneumothorax- effusion-", "plain"),
    ("There is no focal airspace opacity.", "consolidation-", "plain"),
    ("The lungs are free of focal airspace disease.", "consolidation-", "plain"),
    ("Negative for pneumothorax.", "pneumothorax-", "plain"),
    ("Pneumothorax is not seen.", "pneumothorax-", "plain"),
    ("The heart is not enlarged.", "cardiomegaly-", "plain"),
    ("Heart is not enlarged.", "cardiomegaly-", "plain"),
    ("Interval resolution of the right pleural effusion.", "effusion-", "plain"),
    ("Right pleural effusion has resolved.", "effusion-", "plain"),
    ("Pneumonia is unlikely.", "pneumonia-", "plain"),
    ("No displaced rib fracture.", "fracture-", "plain"),
    ("No visible fracture.", "fracture-", "plain"),
    ("Without evidence of pneumothorax.", "pneumothorax-", "plain"),
    ("No evidence of pneumonia.", "pneumonia-", "plain"),
    ("No findings of congestive heart failure.", "edema-", "plain"),
    # --- affirmed findings
    ("Cardiomegaly.", "cardiomegaly+", "plain"),
    ("Mild cardiomegaly.", "cardiomegaly+", "plain"),
    ("Stable cardiomegaly.", "cardiomegaly+", "plain"),
    ("Stable mild cardiomegaly.", "cardiomegaly+", "plain"),
    ("Moderate cardiomegaly.", "cardiomegaly+", "plain"),
    ("Enlarged cardiac silhouette.", "cardiomegaly+", "plain"),
    ("The heart is mildly enlarged.", "cardiomegaly+", "plain"),
    ("Heart size is enlarged.", "cardiomegaly+", "plain"),
    ("Stable XXXX cardiomegaly.", "cardiomegaly+", "plain"),
    ("Small left pleural effusion.", "effusion+", "plain"),
    ("Small bilateral pleural effusions.", "effusion+", "plain"),
    ("Moderate right pleural effusion.", "effusion+", "plain"),
    ("Right lower lobe pneumonia.", "pneumonia+", "plain"),
    ("Left lower lobe consolidation.", "consolidation+", "plain"),
    ("Left basilar atelectasis.", "atelectasis+", "plain"),
    ("Bibasilar atelectasis.", "atelectasis+", "plain"),
    ("Mild bibasilar atelectasis.", "atelectasis+", "plain"),
    ("Minimal left basilar subsegmental atelectasis.", "atelectasis+", "plain"),
    ("Calcified granuloma in the right upper lobe.", "granuloma+", "plain"),
    ("Left lower lobe calcified granuloma.", "granuloma+", "plain"),
    ("Calcified granulomas.", "granuloma+", "plain"),
    ("Hyperinflated lungs consistent with COPD.", "emphysema+", "plain"),
    ("Emphysema.", "emphysema+", "plain"),
    ("Changes of chronic obstructive pulmonary disease.", "emphysema+", "plain"),
    ("Hyperexpanded lungs.", "emphysema+", "plain"),
    ("Degenerative changes of the thoracic spine.", "degenerative+", "plain"),
    ("Mild degenerative changes in the thoracic spine.", "degenerative+", "plain"),
    ("Thoracic spondylosis.", "degenerative+", "plain"),
    ("Tortuous aorta.", "aorta+", "plain"),
    ("Atherosclerotic calcification of the aortic arch.", "aorta+", "plain"),
    ("The aorta is tortuous and calcified.", "aorta+", "plain"),
    ("Small hiatal hernia.", "hernia+", "plain"),
    ("Mild thoracic scoliosis.", "scoliosis+", "plain"),
    ("Right upper lobe nodule.", "nodule+", "plain"),
    ("8 mm nodule in the left mid lung.", "nodule+", "plain"),
    ("Right hilar mass.", "mass+", "plain"),
    ("Healed left rib fractures.", "fracture+", "plain"),
    ("Old right XXXX rib fracture.", "fracture+", "plain"),
    ("Mild pulmonary edema.", "edema+", "plain"),
    ("Pulmonary vascular congestion.", "edema+", "plain"),
    ("Small right apical pneumothorax.", "pneumothorax+", "plain"),
    ("Right basilar opacity.", "opacity+", "plain"),
    ("Patchy bilateral airspace opacities.", "consolidation+", "plain"),
    ("Biapical pleural-parenchymal scarring.", "scarring+", "plain"),
    ("Chronic interstitial lung disease with fibrosis.", "scarring+", "plain"),
    ("Low lung volumes.", "lowvolume+", "plain"),
    ("Hypoinflation.", "lowvolume+", "plain"),
    # --- comparisons and pseudo-negations: present despite the negation word
    ("No change in the cardiomegaly.", "cardiomegaly+", "pseudo"),
    ("No significant change in the left pleural effusion.", "effusion+", "pseudo"),
    ("No interval change in the right upper lobe nodule.", "nodule+", "pseudo"),
    ("Cardiomegaly, not significantly changed.", "cardiomegaly+", "pseudo"),
    ("Cardiomegaly without significant change.", "cardiomegaly+", "pseudo"),
    ("Left basilar atelectasis without interval change.", "atelectasis+", "pseudo"),
    (
        "Not only cardiomegaly but also bilateral pleural effusions.",
        "cardiomegaly+ effusion+",
        "pseudo",
    ),
    ("Cardiomegaly is unchanged from the prior study.", "cardiomegaly+", "pseudo"),
    ("Unchanged right pleural effusion.", "effusion+", "pseudo"),
    ("Emphysema, no change from XXXX.", "emphysema+", "pseudo"),
    ("Stable right upper lobe nodule, not changed since XXXX.", "nodule+", "pseudo"),
    ("No increase in the small left pleural effusion.", "effusion+", "pseudo"),
    ("Persistent left lower lobe consolidation, no improvement.", "consolidation+", "pseudo"),
    # --- hedges
    ("Possible right lower lobe pneumonia.", "pneumonia?", "hedge"),
    ("Cannot exclude small left pleural effusion.", "effusion?", "hedge"),
    ("Pneumonia cannot be excluded.", "pneumonia?", "hedge"),
    ("Questionable small right pneumothorax.", "pneumothorax?", "hedge"),
    ("Probable left basilar atelectasis.", "atelectasis?", "hedge"),
    ("Findings suspicious for pneumonia.", "pneumonia?", "hedge"),
    ("Right hilar fullness, possibly adenopathy.", "adenopathy?", "hedge"),
    ("Possible small hiatal hernia.", "hernia?", "hedge"),
    ("Early pneumonia not excluded.", "pneumonia?", "hedge"),
    ("Findings may represent early pneumonia.", "pneumonia?", "hedge"),
    # --- mixed scope: one sentence, more than one finding or polarity
    ("Cardiomegaly without pulmonary edema.", "cardiomegaly+ edema-", "mixed"),
    ("Mild cardiomegaly, no acute pulmonary findings.", "cardiomegaly+", "mixed"),
    (
        "Stable cardiomegaly with no failure or pneumonia.",
        "cardiomegaly+ edema- pneumonia-",
        "mixed",
    ),
    ("Cardiomegaly with small bilateral pleural effusions.", "cardiomegaly+ effusion+", "mixed"),
    ("Small left pleural effusion without pneumothorax.", "effusion+ pneumothorax-", "mixed"),
    ("Right lower lobe pneumonia without effusion.", "pneumonia+ effusion-", "mixed"),
    ("Left basilar atelectasis, no focal consolidation.", "atelectasis+ consolidation-", "mixed"),
    (
        "Enlarged cardiac silhouette without evidence of vascular congestion.",
        "cardiomegaly+ edema-",
        "mixed",
    ),
    ("Hyperinflated lungs without acute infiltrate.", "emphysema+ opacity-", "mixed"),
    ("Calcified granuloma in the right upper lobe, no acute disease.", "granuloma+", "mixed"),
    (
        "Cardiomegaly and mild pulmonary edema without pleural effusion.",
        "cardiomegaly+ edema+ effusion-",
        "mixed",
    ),
    (
        "No pneumothorax, however there is a small left pleural effusion.",
        "pneumothorax- effusion+",
        "mixed",
    ),
    ("No pleural effusion but mild cardiomegaly.", "effusion- cardiomegaly+", "mixed"),
    ("No focal consolidation, mild bibasilar atelectasis.", "consolidation- atelectasis+", "mixed"),
    ("Mild cardiomegaly without focal consolidation.", "cardiomegaly+ consolidation-", "mixed"),
    ("Stable cardiomegaly, no pleural effusion.", "cardiomegaly+ effusion-", "mixed"),
    ("Tortuous aorta without acute cardiopulmonary abnormality.", "aorta+", "mixed"),
    ("Left lower lobe opacity which may represent atelectasis.", "opacity+ atelectasis?", "mixed"),
    ("Right basilar opacity, possibly pneumonia.", "opacity+ pneumonia?", "mixed"),
    ("Right basilar opacity suspicious for pneumonia.", "opacity+ pneumonia?", "mixed"),
    ("Low lung volumes with bibasilar atelectasis.", "lowvolume+ atelectasis+", "mixed"),
    (
        "Low lung volumes with XXXX opacities, likely atelectasis.",
        "lowvolume+ opacity+ atelectasis?",
        "mixed",
    ),
    ("No acute abnormality except for mild cardiomegaly.", "cardiomegaly+", "mixed"),
    (
        "Although there is no consolidation, mild atelectasis persists at the left base.",
        "consolidation- atelectasis+",
        "mixed",
    ),
    ("Emphysema without focal airspace disease.", "emphysema+ consolidation-", "mixed"),
    ("Small right pneumothorax without mediastinal shift.", "pneumothorax+", "mixed"),
    ("Healed right rib fractures, no pneumothorax.", "fracture+ pneumothorax-", "mixed"),
    (
        "Degenerative changes of the spine without acute fracture.",
        "degenerative+ fracture-",
        "mixed",
    ),
    ("Cardiomegaly, possible small left pleural effusion.", "cardiomegaly+ effusion?", "mixed"),
    ("Cardiomegaly with possible mild edema.", "cardiomegaly+ edema?", "mixed"),
    ("Pulmonary nodule but no mass.", "nodule+ mass-", "mixed"),
    ("Mild cardiomegaly without edema or effusion.", "cardiomegaly+ edema- effusion-", "mixed"),
    ("Bilateral pleural effusions with no pneumothorax.", "effusion+ pneumothorax-", "mixed"),
    ("Stable XXXX cardiomegaly without acute disease.", "cardiomegaly+", "mixed"),
    ("Hiatal hernia, no acute cardiopulmonary process.", "hernia+", "mixed"),
    ("Scoliosis without acute osseous abnormality.", "scoliosis+", "mixed"),
)

_MIXED_FROM_ISSUE = (
    "Cardiomegaly without pulmonary edema.",
    "Mild cardiomegaly, no acute pulmonary findings.",
    "Stable cardiomegaly with no failure or pneumonia.",
)


def _tags(spec: str) -> dict[str, str]:
    polarity = {"+": "affirmed", "-": "negated", "?": "uncertain"}
    return {tag[:-1]: polarity[tag[-1]] for tag in spec.split()}


def _join(sentences: list[str], rng: random.Random) -> str:
    style = rng.choices(("prose", "numbered", "lines", "impression"), (5, 2, 1, 1))[0]
    if style == "numbered":
        return " ".join(f"{i}. {s}" for i, s in enumerate(sentences, start=1))
    if style == "lines":
        return "\n".join(sentences)
    text = " ".join(sentences)
    return f"IMPRESSION: {text}" if style == "impression" else text


def build(seed: int = 15) -> list[dict]:
    rng = random.Random(seed)
    by_kind: dict[str, list[tuple[str, dict[str, str], str]]] = {}
    for text, spec, kind in SENTENCES:
        by_kind.setdefault(kind, []).append((text, _tags(spec), kind))
    # Every mixed, pseudo and hedge sentence leads at least one impression; the rest are drawn.
    leads = [s for kind in ("mixed", "pseudo", "hedge") for s in by_kind[kind]] * 2
    leads += [s for s in by_kind["normal"] + by_kind["plain"]]
    while len(leads) < N_IMPRESSIONS:
        leads.append(rng.choice([s for s in (*by_kind["normal"], *by_kind["plain"])]))
    rng.shuffle(leads)
    others = [(t, _tags(spec), kind) for t, spec, kind in SENTENCES]
    impressions = []
    for n, lead in enumerate(leads[:N_IMPRESSIONS], start=1):
        chosen = [lead]
        for _ in range(rng.choices((0, 1, 2, 3), (3, 4, 3, 1))[0]):
            candidate = rng.choice(others)
            taken = {finding for _, tags, _ in chosen for finding in tags}
            if candidate[0] in {c[0] for c in chosen} or taken & set(candidate[1]):
                continue
            chosen.append(candidate)
        rng.shuffle(chosen)
        tags = {finding: pol for _, t, _ in chosen for finding, pol in t.items()}
        impressions.append(
            {
                "id": f"en-{n:04d}",
                "text": _join([c[0] for c in chosen], rng),
                "tags": dict(sorted(tags.items())),
                "normal": all(p == "negated" for p in tags.values()),
                "kinds": sorted({c[2] for c in chosen}),
            }
        )
    for text in _MIXED_FROM_ISSUE:
        assert any(text in i["text"] for i in impressions), text
    return impressions


if __name__ == "__main__":
    rows = build()
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    print(f"{len(rows)} impressions -> {OUT}")
