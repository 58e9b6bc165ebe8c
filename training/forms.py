"""The launch form: the paper's protocol as defaults, presets, field-by-field errors."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .configs import ARCH_CHOICES, PAPER, PRESETS, TASK_CHOICES, engine_errors

ENGINE_FORM_FIELDS = ("task", "arch", "weights", "epochs", "batch_size", "lr", "crop",
                      "balance", "eval_crops", "seed", "device")  # fmt: skip


class LaunchForm(forms.Form):
    preset = forms.ChoiceField(
        label=_("Preset"),
        required=False,
        choices=[("", _("custom"))] + [(key, label) for key, (label, _v) in PRESETS.items()],
    )
    label_set = forms.ChoiceField(label=_("Label set"))
    name = forms.CharField(label=_("Name"), max_length=120, required=False)
    task = forms.ChoiceField(label=_("Task"), choices=TASK_CHOICES)
    arch = forms.ChoiceField(label=_("Architecture"), choices=ARCH_CHOICES)
    compare = forms.BooleanField(
        label=_("VGG-16 vs ResNet-101: launch both on the same split"), required=False
    )
    weights = forms.ChoiceField(
        label=_("Pretrained weights"),
        choices=[("imagenet", _("ImageNet (torchvision files)")), ("none", _("none (random)"))],
    )
    epochs = forms.IntegerField(label=_("Epochs"), min_value=1, max_value=1000)
    batch_size = forms.IntegerField(label=_("Batch size"), min_value=1, max_value=4096)
    lr = forms.FloatField(label=_("Learning rate"), min_value=1e-7, max_value=10)
    crop = forms.IntegerField(label=_("Crop"), min_value=16, max_value=1024)
    balance = forms.ChoiceField(
        label=_("Rebalancing"),
        choices=[("auto", _("the paper's, for single disease")), ("paper", _("the paper's")),
                 ("weighted_loss", _("class-weighted loss")), ("none", _("none"))],
    )  # fmt: skip
    eval_crops = forms.ChoiceField(
        label=_("Evaluation"),
        choices=[("five", _("five crops, averaged (the paper)")), ("center", _("centre crop"))],
    )
    seed = forms.IntegerField(label=_("Seed (same seed, same split)"), min_value=0)
    device = forms.ChoiceField(
        label=_("Device"), choices=[("auto", _("auto")), ("cpu", "cpu"), ("cuda", "cuda")]
    )
    gpus = forms.IntegerField(
        label=_("GPUs for this job"), min_value=1, max_value=64, initial=1, required=False,
        help_text=_("more than one starts the engine with torchrun"),
    )  # fmt: skip

    def __init__(self, *args, label_sets=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["label_set"].choices = [(str(ls.pk), str(ls)) for ls in label_sets]

    @staticmethod
    def initial_for(preset: str) -> dict:
        values = {**PAPER, "arch": "resnet101", "device": "auto"}
        if preset in PRESETS:
            values.update(PRESETS[preset][1])
        return {"preset": preset, **values}

    def engine(self) -> dict:
        return {name: self.cleaned_data[name] for name in ENGINE_FORM_FIELDS}

    def clean(self) -> dict:
        data = super().clean()
        if not self.errors:
            for field, message in engine_errors(self.engine()).items():
                self.add_error(field if field in self.fields else None, message)
        return data

    def archs(self) -> list[str]:
        return (
            ["vgg16", "resnet101"]
            if self.cleaned_data.get("compare")
            else [self.cleaned_data["arch"]]
        )


TAG = r"^[\w.:+-]{1,40}$"


class RegistryForm(forms.Form):
    """A finished run's name and tags (comma-separated in the form)."""

    name = forms.CharField(label=_("Name"), max_length=120, required=False)
    tags = forms.CharField(
        label=_("Tags"), required=False, help_text=_("comma-separated, e.g. baseline, v2")
    )

    def clean_tags(self) -> list[str]:
        import re

        tags = [tag.strip() for tag in self.cleaned_data["tags"].split(",") if tag.strip()]
        bad = [tag for tag in tags if not re.match(TAG, tag)]
        if bad:
            raise forms.ValidationError(
                _("tags are up to 40 letters, digits or . : + - _ each; not %(tag)s")
                % {"tag": bad[0]}
            )
        if len(tags) > 20:
            raise forms.ValidationError(_("at most 20 tags"))
        return tags
