"""Forms of the cue-list and vocabulary pages: field checks here, rules in ``services``."""

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


class CuesForm(forms.Form):
    negation = forms.CharField(
        label=_("Negation cues"), widget=forms.Textarea(attrs={"rows": 12}), required=False
    )
    uncertainty = forms.CharField(
        label=_("Uncertainty cues"), widget=forms.Textarea(attrs={"rows": 12}), required=False
    )
    pseudo = forms.CharField(
        label=_("Pseudo cues"),
        help_text=_("Words that contain a cue but deny nothing, such as 欠锐利."),
        widget=forms.Textarea(attrs={"rows": 12}),
        required=False,
    )
    terminators = forms.CharField(
        label=_("Scope terminators"),
        help_text=_(
            "Words that end a cue's scope inside a sentence, such as but, with, 但 or 伴: "
            "“Cardiomegaly with no effusion” becomes two clauses. Punctuation always ends it."
        ),
        widget=forms.Textarea(attrs={"rows": 12}),
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
