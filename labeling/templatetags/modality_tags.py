"""The badge of images that are not chest radiographs (see labeling/modality.py)."""

from django import template

from labeling.modality import is_chest_radiograph, modality_note

register = template.Library()


@register.filter
def other_modalities(study) -> list[tuple[str, str]]:
    """(modality, note) for each modality of the study's images that is not CR or DX.

    Reads ``study.instances`` with their series: prefetch both on lists."""
    found = {instance.series.modality.strip() for instance in study.instances.all()}
    return [(m or "?", modality_note(m)) for m in sorted(found) if not is_chest_radiograph(m)]


@register.filter
def note_for_modality(modality: str) -> str:
    return modality_note(modality or "")
