"""Teams, memberships and the base class every team-owned row derives from."""

import secrets

from django.conf import settings
from django.db import models
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _


def _new_team_secret() -> str:
    return secrets.token_hex(32)


class Team(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    slug = models.SlugField(_("slug"), max_length=100, unique=True, allow_unicode=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    deidentify = models.BooleanField(
        _("de-identify on import"),
        default=True,
        help_text=_("Apply the DICOM basic confidentiality profile to every imported file."),
    )
    remap_uids = models.BooleanField(
        _("remap UIDs on import"),
        default=False,
        help_text=_(
            "Replace study, series and instance UIDs by keyed hashes (consistent across "
            "imports); reports keyed by the original StudyInstanceUID still match."
        ),
    )
    # Keyed pseudonyms: the same patient always maps to the same pseudonym within a team,
    # and nobody without this secret can map a pseudonym back.
    pseudonym_secret = models.CharField(max_length=64, default=_new_team_secret, editable=False)

    class Meta:
        db_table = "lab_team"  # created when teams lived in the lab app; the rows stayed put
        ordering = ["name"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        if not self.slug:
            self.slug = slugify(self.name, allow_unicode=True) or secrets.token_hex(4)
        super().save(*args, **kwargs)


class Role(models.TextChoices):
    ADMIN = "admin", _("admin")
    CURATOR = "curator", _("curator")
    ML_ENGINEER = "ml-engineer", _("ML engineer")
    VIEWER = "viewer", _("viewer")


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.VIEWER)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "team"], name="one_membership_per_team")
        ]
        db_table = "lab_membership"
        ordering = ["team__name"]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class TeamScopedQuerySet(models.QuerySet):
    def visible_to(self, user) -> "TeamScopedQuerySet":
        """Rows of the teams ``user`` belongs to: the one place access is decided."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(team__memberships__user=user)

    def of_team(self, team: Team) -> "TeamScopedQuerySet":
        return self.filter(team=team)


class TeamOwned(models.Model):
    """Abstract base: every domain row belongs to exactly one team."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")

    objects = TeamScopedQuerySet.as_manager()

    class Meta:
        abstract = True


class ApiToken(models.Model):
    """A key for the API and DICOMweb (``Authorization: Token <key>``), kept as its SHA-256
    only: the key is shown once, when it is made, and never again (``teams/tokens.py``)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    # The key's first characters, enough to tell a user's tokens apart, too few to use one.
    prefix = models.CharField(_("prefix"), max_length=8)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["user__username", "-created_at"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"


class TokenFailure(models.Model):
    """Invalid API tokens sent from one client address, counted in the database so that every
    web worker sees the same count (``teams/tokens.py`` refuses the address past the limit)."""

    address = models.CharField(max_length=45, unique=True)
    failures = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.address}: {self.failures}"
