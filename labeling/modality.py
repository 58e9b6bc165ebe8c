"""Which images the lab is made for: chest radiographs, Modality CR or DX.

Other images (CT, MR, a secondary capture, a file that states no modality) are imported all the
same, since a PACS export mixes them in and the curators may still want to see them, but the
upload results and the study pages mark them with a note, so that nobody trains on them by
accident.
"""

from django.utils.translation import gettext

CHEST_RADIOGRAPH_MODALITIES = frozenset({"CR", "DX"})


def is_chest_radiograph(modality: str) -> bool:
    return modality.strip().upper() in CHEST_RADIOGRAPH_MODALITIES


def modality_note(modality: str) -> str:
    """Why an image is not what the lab expects, for people; "" for a CR or DX image."""
    if is_chest_radiograph(modality):
        return ""
    if not modality.strip():
        return gettext("no modality stated: this lab is for chest radiographs (CR, DX)")
    return gettext("modality %(modality)s: this lab is for chest radiographs (CR, DX)") % {
        "modality": modality.strip()
    }
