"""The launch forms: the paper's protocol as defaults, presets, field-by-field errors.

A form builds a job's config from its fields; training/launch.py parses and checks it, as it
does the API's and the commands', and ``add_config_errors`` puts its complaints on the fields.
"""

from django import forms
from django.utils.translation import gettext_lazy as _

from .configs import ARCH_CHOICES, PAPER, PRESETS, TASK_CHOICES, USER_ENGINE_FIELDS


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
    leave_out_short = forms.BooleanField(
        label=_("Leave out the labels below the minimum"), required=False,
        help_text=_("as the paper kept its ten largest labels; an image left with no label is "
                    "still abnormal, and leaves the single-disease task"),
    )  # fmt: skip

    def __init__(self, *args, label_sets=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["label_set"].choices = [(str(ls.pk), str(ls)) for ls in label_sets]
        self.labels: list[str] = []  # the label keys the job trains on, when some are left out
        self.left_out: list[str] = []  # the names of those left out

    def leave_out(self, kept: list[str], left_out: list[str]) -> None:
        """Train on the labels ``kept`` only (the engine's ``labels`` setting)."""
        self.labels, self.left_out = list(kept), list(left_out)

    @staticmethod
    def initial_for(preset: str) -> dict:
        values = {**PAPER, "arch": "resnet101", "device": "auto"}
        if preset in PRESETS:
            values.update(PRESETS[preset][1])
        return {"preset": preset, **values}

    def engine(self) -> dict:
        engine = {name: self.cleaned_data[name] for name in ENGINE_FORM_FIELDS}
        return {**engine, "labels": self.labels} if self.labels else engine

    def config(self, arch: str) -> dict:
        """One training job's config: the form's engine values with this architecture."""
        config = {"label_set": int(self.cleaned_data["label_set"]),
                  "engine": {**self.engine(), "arch": arch}}  # fmt: skip
        if (self.cleaned_data.get("gpus") or 1) > 1:
            config["gpus"] = self.cleaned_data["gpus"]
        return config

    def job_name(self, arch: str) -> str:
        return self.cleaned_data["name"] or f"{self.cleaned_data['task']} {arch}"

    def archs(self) -> list[str]:
        return (
            ["vgg16", "resnet101"]
            if self.cleaned_data.get("compare")
            else [self.cleaned_data["arch"]]
        )


# The form's engine fields: those of its fields the engine's Config lets a user set.
ENGINE_FORM_FIELDS = tuple(name for name in LaunchForm.base_fields if name in USER_ENGINE_FIELDS)


def add_config_errors(
    form: forms.Form, errors: dict, aliases: dict[str, str] | None = None
) -> None:
    """A launch's config errors (training/launch.py) on the form's fields: engine fields are
    nested under ``engine``; ``aliases`` name the form field that set a config field."""
    for field, messages in errors.items():
        if field == "engine" and isinstance(messages, dict):
            add_config_errors(form, messages, aliases)
            continue
        field = (aliases or {}).get(field, field)
        for message in messages if isinstance(messages, list) else [messages]:
            form.add_error(field if field in form.fields else None, str(message))


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


# --- evaluation and prediction with a finished run ----------------------------------------------

WORKER_CHOICES = [
    ("gpu", _("a GPU worker (queue gpu)")),
    ("cpu", _("a CPU worker (queue default)")),
]


class RunJobForm(forms.Form):
    """What evaluation and prediction forms share: a name and which worker runs the job.

    Every field has a default, so the form's button alone launches the usual job."""

    name = forms.CharField(label=_("Name"), max_length=120, required=False)
    worker = forms.ChoiceField(label=_("Run on"), choices=WORKER_CHOICES, required=False)

    def __init__(self, *args, run, gpu_online: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.run = run
        self.default_worker = "gpu" if gpu_online else "cpu"
        self.fields["worker"].initial = self.default_worker

    def clean_worker(self) -> str:
        return self.cleaned_data["worker"] or self.default_worker

    def queue(self) -> str:
        return "gpu" if self.cleaned_data["worker"] == "gpu" else "default"

    def base_config(self) -> dict:
        device = "auto" if self.cleaned_data["worker"] == "gpu" else "cpu"
        return {"source_job": self.run.pk, "device": device}


class EvaluateForm(RunJobForm):
    """Evaluate a run on its own test split or on another frozen label set of its team."""

    prefix = "evaluate"
    target = forms.ChoiceField(label=_("Evaluate on"), required=False)
    eval_crops = forms.ChoiceField(
        label=_("Crops"),
        required=False,
        choices=[("five", _("five crops, averaged (the paper)")), ("center", _("centre crop"))],
    )
    field_order = ["target", "eval_crops", "worker", "name"]

    def __init__(self, *args, label_sets=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        own = self.run.config.get("label_set")
        self.fields["target"].choices = [("test", _("this run's test split"))] + [
            (str(ls.pk), _("label set %(name)s (patients the run saw are left out)")
             % {"name": ls})
            for ls in label_sets
            if ls.pk != own
        ]  # fmt: skip

    def clean_target(self) -> str:
        return self.cleaned_data["target"] or "test"

    def clean_eval_crops(self) -> str:
        return self.cleaned_data["eval_crops"] or "five"

    def config(self) -> dict:
        config = {**self.base_config(), "eval_crops": self.cleaned_data["eval_crops"]}
        if self.cleaned_data["target"] != "test":
            config["label_set"] = int(self.cleaned_data["target"])
        return config


class PredictForm(RunJobForm):
    """Predict with a run on images of its team: those it has not scored yet, those ingested
    since a date, or one study's."""

    prefix = "predict"
    images = forms.ChoiceField(
        label=_("Images"),
        required=False,
        choices=[
            ("unpredicted", _("every image without a prediction from this run")),
            ("since", _("images ingested since a date")),
            ("study", _("the images of one study")),
        ],
    )
    since = forms.DateField(
        label=_("Ingested since"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    study = forms.CharField(
        label=_("Study (accession number or Study Instance UID)"), max_length=64, required=False
    )
    field_order = ["images", "since", "study", "worker", "name"]

    def clean_images(self) -> str:
        return self.cleaned_data["images"] or "unpredicted"

    def clean(self) -> dict:
        data = super().clean()
        images = data.get("images")
        if images == "since" and not data.get("since"):
            self.add_error("since", _("give the date the images were ingested from"))
        if images == "study":
            data["study_id"] = self._study_id(data.get("study", "").strip())
        return data

    def _study_id(self, key: str) -> int | None:
        from django.db.models import Q

        from labeling.models import Study

        if not key:
            self.add_error("study", _("give a study's accession number or Study Instance UID"))
            return None
        found = (
            Study.objects.of_team(self.run.team)
            .filter(Q(accession_number=key) | Q(study_uid=key))
            .values_list("pk", flat=True)
            .first()
        )
        if found is None:
            self.add_error("study", _("this team has no study %(key)s") % {"key": key})
        return found

    def config(self) -> dict:
        images = self.cleaned_data["images"]
        config = self.base_config()
        if images == "unpredicted":
            config["images"] = "unpredicted"
        elif images == "since":
            config["since"] = self.cleaned_data["since"].isoformat()
        else:
            config["studies"] = [self.cleaned_data["study_id"]]
        return config
