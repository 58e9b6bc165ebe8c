"""Forms of the cue-list, distance and vocabulary pages: field checks here, rules in
``services``."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Label

CUE_FIELDS = ("negation", "uncertainty", "pseudo", "terminators")


def cue_lines(text: str) -> list[str]:
    """One cue per line: blank lines and surrounding spaces dropped, a repeated line kept once
    (curators paste lists; a duplicate would otherwise be refused as a clash)."""
    seen: dict[str, None] = {}
    for line in text.splitlines():
        if line.strip():
            seen.setdefault(line.strip())
    return list(seen)


def user_text_area(rows: int) -> forms.Textarea:
    """A text area holding the team's own words (cues, synonyms): data, not UI, so marked
    ``data-user-text`` (the Chinese-UI check skips it) and left in whatever language it is."""
    return forms.Textarea(attrs={"rows": rows, "data-user-text": ""})


class CuesForm(forms.Form):
    negation = forms.CharField(label=_("Negation cues"), widget=user_text_area(12), required=False)
    uncertainty = forms.CharField(
        label=_("Uncertainty cues"), widget=user_text_area(12), required=False
    )
    pseudo = forms.CharField(
        label=_("Pseudo cues"),
        help_text=_("Words that contain a cue but deny nothing, such as 欠锐利."),
        widget=user_text_area(12),
        required=False,
    )
    terminators = forms.CharField(
        label=_("Scope terminators"),
        help_text=_(
            "Words that end a cue's scope inside a sentence, such as but, with, 但 or 伴: "
            "“Cardiomegaly with no effusion” becomes two clauses. Punctuation always ends it."
        ),
        widget=user_text_area(12),
        required=False,
    )
    version = forms.IntegerField(widget=forms.HiddenInput)

    def clean(self) -> dict:
        data = super().clean()
        for name in CUE_FIELDS:
            if name in data:
                data[name] = cue_lines(data[name])
        if not data.get("negation") and not self.has_error("negation"):
            self.add_error("negation", _("Keep at least one negation cue, such as 未见 or no."))
        return data

    @classmethod
    def initial_from(cls, row, cues) -> dict:
        """The form as stored: ``cues`` are the team's lists, terminators filled in."""
        return {name: "\n".join(getattr(cues, name)) for name in CUE_FIELDS} | {
            "version": row.version
        }


class LabelForm(forms.ModelForm):
    """A new vocabulary entry; uniqueness per team is checked by the service."""

    class Meta:
        model = Label
        fields = ["key", "name_en", "name_zh"]
        help_texts = {"key": _("Lower-case letters, digits and underscores; it never changes.")}


class LabelNamesForm(forms.Form):
    name_en = forms.CharField(label=_("English name"), max_length=100)
    name_zh = forms.CharField(label=_("Chinese name"), max_length=100)
    was_en = forms.CharField(widget=forms.HiddenInput, max_length=100)
    was_zh = forms.CharField(widget=forms.HiddenInput, max_length=100)


class DistanceSettingsForm(forms.Form):
    """The synonym table as text (one group a line, forms separated by "=") and the auto-label
    threshold; the service checks the groups and says which line is wrong."""

    synonyms = forms.CharField(
        label=_("Synonym table"),
        help_text=_(
            "One group per line, the canonical form first, the forms separated by “=”, such as "
            "心影增大 = 心影增宽 = 心脏增大; a line that starts with “=” drops its forms (= 左侧 "
            "= 少量). The default distance reads each form as the first of its line before "
            "comparing clauses; the paper's distance ignores the table."
        ),
        widget=user_text_area(14),
        required=False,
    )
    auto_label_distance = forms.FloatField(
        label=_("Auto-label distance"),
        min_value=0.0,
        max_value=1.0,
        help_text=_(
            "A share of the clause's length, from 0 to 1: at 0.25 a new clause takes the "
            "decision of a curated medoid when at most a quarter of its characters differ."
        ),
        widget=forms.NumberInput(attrs={"step": "0.01"}),
    )
    version = forms.IntegerField(widget=forms.HiddenInput)
