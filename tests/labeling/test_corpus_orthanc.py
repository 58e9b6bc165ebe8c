"""The measure of issue #14: every real-world DICOM file of the corpus (tests/labeling/
dicom_corpus.py: pydicom's test files and pydicom-data's) is POSTed to a real Orthanc (Debian
``orthanc`` with ``orthanc-gdcm``) and imported here; each side either renders it or says why
not. Every file that Orthanc stores and renders a preview of must be imported and rendered here
(the cache image and ``/rendered``), unless its rejection is one the README's rule permits:
:data:`PERMITTED`, each with the rule it rests on.

``pytest -s`` prints the table (file, what it is, Orthanc, ours) and the totals;
``python bench/dicom_corpus.py`` prints the same outside pytest.
"""

from __future__ import annotations

import pytest

from tests.labeling import dicom_corpus
from tests.labeling.dicom_corpus import OrthancProbe, Outcome, Row

# Files Orthanc renders that we may refuse, by the README's rule ("Accepted and rejected DICOM
# objects"): name -> (our rejection code, the rule that permits it). Keep it small and true: a
# file in here that we render, or that Orthanc does not render, fails the test.
PERMITTED: dict[str, tuple[str, str]] = {}


@pytest.fixture(scope="module")
def orthanc_outcomes(tmp_path_factory) -> dict[str, Outcome]:
    """Orthanc's verdict on every file, from one Orthanc for the module (a fresh one only
    after a file crashes it)."""
    with OrthancProbe(tmp_path_factory.mktemp("corpus-orthanc")) as probe:
        return {item.name: probe.outcome(item) for item in dicom_corpus.corpus()}


@pytest.mark.slow
@pytest.mark.django_db
def test_every_file_orthanc_renders_is_rendered_here_or_refused_by_the_readme_rule(
    orthanc_outcomes,
):
    rows = [
        Row(item, orthanc_outcomes[item.name], ours)
        for item, ours in dicom_corpus.our_outcomes(dicom_corpus.corpus())
    ]
    print("\n" + dicom_corpus.table(rows))
    missing = [
        r
        for r in dicom_corpus.only_orthanc_renders(rows)
        if PERMITTED.get(r.entry.name, ("",))[0] != r.ours.why or r.ours.stored
    ]
    assert not missing, "Orthanc renders these and we do not:\n" + "\n".join(
        f"  {r.entry.name}: {r.ours.cell()}" for r in missing
    )
    by_name = {r.entry.name: r for r in rows}
    stale = [
        name
        for name in PERMITTED
        if name not in by_name or by_name[name].ours.rendered or not by_name[name].orthanc.rendered
    ]
    assert not stale, f"no longer exceptions (remove them from PERMITTED): {stale}"
