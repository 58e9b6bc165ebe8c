"""Studies, series, instances and reports, each owned by a team.

An instance is stored once per team by its SOP Instance UID, at a path the server derives from
that UID (never from a client's file name).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from teams.models import TeamOwned

from .fields import EncryptedTextField, Undecryptable


class Study(TeamOwned):
    study_uid = models.CharField(_("Study Instance UID"), max_length=64)
    accession_number = models.CharField(_("accession number"), max_length=64, blank=True)
    patient_id = models.CharField(
        _("patient"), max_length=64, blank=True, help_text=_("Pseudonym when de-identified.")
    )
    patient_sex = models.CharField(_("sex"), max_length=16, blank=True)
    patient_age = models.CharField(_("age"), max_length=16, blank=True)
    study_date = models.DateField(_("study date"), null=True, blank=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    # Kept for QIDO-RS matching (PatientName is the pseudonym when de-identified).
    patient_name = models.CharField(max_length=200, blank=True)
    study_time = models.TimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "study_uid"], name="study_uid_per_team")
        ]
        indexes = [
            models.Index(fields=["team", "accession_number"]),
            models.Index(fields=["team", "patient_id"]),
            models.Index(fields=["team", "study_date"]),
            models.Index(fields=["team", "patient_name"]),
        ]
        ordering = ["-study_date", "-id"]
        verbose_name = _("study")
        verbose_name_plural = _("studies")

    def __str__(self) -> str:
        return self.accession_number or self.study_uid


class Series(TeamOwned):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    series_uid = models.CharField(_("Series Instance UID"), max_length=64)
    modality = models.CharField(_("modality"), max_length=16, blank=True)
    series_number = models.IntegerField(null=True, blank=True)
    body_part = models.CharField(max_length=64, blank=True)
    description = models.CharField(_("description"), max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "series_uid"], name="series_uid_per_team")
        ]
        ordering = ["series_number", "id"]
        verbose_name = _("series")
        verbose_name_plural = _("series")

    def __str__(self) -> str:
        return self.series_uid


class Instance(TeamOwned):
    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="instances")
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="instances")
    sop_uid = models.CharField(_("SOP Instance UID"), max_length=64)
    sop_class_uid = models.CharField(max_length=64, blank=True)
    instance_number = models.IntegerField(null=True, blank=True)
    rows = models.PositiveIntegerField(default=0)
    columns = models.PositiveIntegerField(default=0)
    number_of_frames = models.PositiveIntegerField(default=1)
    photometric = models.CharField(max_length=16, blank=True)
    bits_stored = models.PositiveSmallIntegerField(default=0)
    transfer_syntax = models.CharField(max_length=64, blank=True)
    view_position = models.CharField(max_length=16, blank=True)
    # Relative to settings.DICOM_STORE_DIR.
    file_path = models.CharField(max_length=255)
    file_size = models.BigIntegerField(default=0)
    decode_error = models.CharField(_("decode error"), max_length=255, blank=True)
    quarantined = models.BooleanField(
        _("quarantined"),
        default=False,
        help_text=_("Flagged with burned-in annotation: kept out of training until reviewed."),
    )
    # Row of this image in the team's training cache; None when it could not be decoded.
    cache_row = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "sop_uid"], name="sop_uid_per_team")]
        ordering = ["instance_number", "id"]
        verbose_name = _("instance")
        verbose_name_plural = _("instances")

    def __str__(self) -> str:
        return self.sop_uid


class ImageCache(TeamOwned):
    """How many rows a team's cache file of one image size holds (rows are allocated here)."""

    size = models.PositiveIntegerField()
    rows = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "size"], name="one_cache_per_team_and_size")
        ]

    def __str__(self) -> str:
        return f"{self.team} cache {self.size}px ({self.rows} rows)"


class Report(TeamOwned):
    study = models.OneToOneField(Study, on_delete=models.CASCADE, related_name="report")
    findings = models.TextField(_("findings"), blank=True)
    diagnosis = models.TextField(_("diagnosis"), blank=True)
    source = models.CharField(_("source"), max_length=255, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("report")
        verbose_name_plural = _("reports")

    def __str__(self) -> str:
        return f"report of {self.study}"


class PacsConnection(TeamOwned):
    """A team's PACS, reached over DICOMweb (QIDO-RS search, WADO-RS pull) or over classic DICOM
    networking, DIMSE (C-FIND search, C-MOVE to our listener or C-GET pull: ``dimse_scu.py``).

    The password is readable by the server (it must log in with it) but stored encrypted and
    never shown or returned by the API; only team admins may change the connection. Every
    request to ``url`` and every association with ``host`` passes the destination policy
    (``labeling/netpolicy.py``).
    """

    class Protocol(models.TextChoices):
        DICOMWEB = "dicomweb", _("DICOMweb")
        DIMSE = "dimse", _("DIMSE (classic DICOM networking)")

    class Retrieve(models.TextChoices):
        MOVE = "move", _("C-MOVE to our DICOM listener")
        GET = "get", _("C-GET on the same association")

    name = models.CharField(_("name"), max_length=100)
    protocol = models.CharField(
        _("protocol"), max_length=8, choices=Protocol.choices, default=Protocol.DICOMWEB
    )
    url = models.URLField(_("DICOMweb URL"), max_length=300, blank=True)
    username = models.CharField(_("username"), max_length=150, blank=True)
    password = EncryptedTextField(_("password"), blank=True)
    proxy = models.BooleanField(
        _("proxy mode"),
        default=False,
        help_text=_(
            "Images stay in the PACS: DICOMweb searches and retrievals of this team are "
            "forwarded to it (after the same access checks) instead of served from local files."
        ),
    )
    host = models.CharField(_("PACS host"), max_length=253, blank=True)
    port = models.PositiveIntegerField(_("PACS port"), null=True, blank=True)
    called_aet = models.CharField(_("PACS AE title (called)"), max_length=16, blank=True)
    calling_aet = models.CharField(_("our AE title (calling)"), max_length=16, blank=True)
    retrieve = models.CharField(
        _("retrieve with"), max_length=4, choices=Retrieve.choices, default=Retrieve.MOVE
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team"], name="one_pacs_per_team"),
            # The DICOMweb proxy forwards to ``url``: a DIMSE connection has nothing to forward to.
            models.CheckConstraint(
                condition=models.Q(proxy=False) | models.Q(protocol="dicomweb"),
                name="pacs_proxy_only_over_dicomweb",
            ),
        ]
        verbose_name = _("PACS connection")
        verbose_name_plural = _("PACS connections")

    def __str__(self) -> str:
        return f"{self.name} ({self.address})"

    @property
    def is_dimse(self) -> bool:
        return self.protocol == self.Protocol.DIMSE

    @property
    def address(self) -> str:
        """Where the PACS is, as people write it: its URL, or ``AE@host:port`` for DIMSE."""
        return f"{self.called_aet}@{self.host}:{self.port}" if self.is_dimse else self.url

    @property
    def password_unreadable(self) -> bool:
        """The stored password cannot be decrypted with this server's key: enter it again."""
        return isinstance(self.password, Undecryptable)


# --------------------------------------------------------------------------------------------
# The DIMSE storage listener (``manage.py dicom_listener``, labeling/dimse/): each team's
# settings and peers, written by the team's admins, and what the listener process writes back
# for the listener page (it runs in a process of its own).
# --------------------------------------------------------------------------------------------


def _valid_ae_title(value: str) -> None:
    from django.core.exceptions import ValidationError

    from .dimse.titles import ae_title_problem

    problem = ae_title_problem(value)
    if problem:
        raise ValidationError(problem, code="ae_title")


def _valid_port(value: int) -> None:
    from django.core.exceptions import ValidationError

    if not 1024 <= value <= 65535:
        raise ValidationError(_("Choose a port from 1024 to 65535."), code="port")


class DicomListener(TeamOwned):
    """A team's storage listener: the AE title and port it answers on. The listener process
    creates a row for each team it serves (with a free port from CXR_DICOM_LISTENER_PORT up)
    and reads the rows every few seconds, so a change reaches it without a restart."""

    ae_title = models.CharField(_("AE title"), max_length=16, validators=[_valid_ae_title])
    port = models.PositiveIntegerField(
        _("port"),
        unique=True,
        validators=[_valid_port],
        help_text=_("The TCP port the listener accepts associations on (1024 to 65535)."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Written by the listener process only (with update(), which leaves updated_at alone).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    listening = models.BooleanField(default=False)
    problem = models.CharField(max_length=255, blank=True)
    associations = models.PositiveIntegerField(default=0)
    refused = models.PositiveIntegerField(default=0)
    stored = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team"], name="one_dicom_listener_per_team")]
        verbose_name = _("DICOM listener")
        verbose_name_plural = _("DICOM listeners")

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.port}"


class DicomPeer(TeamOwned):
    """A modality or PACS allowed to send to the team's listener: its calling AE title and the
    address (an IP address or a host name) its associations come from."""

    ae_title = models.CharField(_("calling AE title"), max_length=16, validators=[_valid_ae_title])
    host = models.CharField(_("address"), max_length=253)
    description = models.CharField(_("description"), max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["team", "ae_title", "host"], name="one_dicom_peer_per_title_and_host"
            )
        ]
        ordering = ["ae_title", "host"]
        verbose_name = _("DICOM peer")
        verbose_name_plural = _("DICOM peers")

    def __str__(self) -> str:
        return f"{self.ae_title} at {self.host}"


class DicomAssociation(TeamOwned):
    """One association the team's listener was asked for: accepted or refused (and why), how
    it ended, and what was stored over it. The listener keeps the latest few hundred."""

    class Outcome(models.TextChoices):
        OPEN = "open", _("open")
        REFUSED = "refused", _("refused")
        RELEASED = "released", _("released")
        ABORTED = "aborted", _("aborted")

    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    calling_ae = models.CharField(_("calling AE title"), max_length=64, blank=True)
    called_ae = models.CharField(_("called AE title"), max_length=64, blank=True)
    address = models.CharField(_("address"), max_length=64, blank=True)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    stored = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("DICOM association")
        verbose_name_plural = _("DICOM associations")

    def __str__(self) -> str:
        return f"{self.calling_ae} from {self.address}: {self.outcome}"


class DicomRejection(TeamOwned):
    """A file the listener received and refused, with the reason (the ingest service's code
    and words); the peer got a failure status for it."""

    association = models.ForeignKey(
        DicomAssociation, null=True, on_delete=models.SET_NULL, related_name="rejections"
    )
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    calling_ae = models.CharField(max_length=64, blank=True)
    sop_uid = models.CharField(_("SOP Instance UID"), max_length=64, blank=True)
    code = models.CharField(_("code"), max_length=40)
    reason = models.CharField(_("reason"), max_length=500, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("rejected DICOM file")
        verbose_name_plural = _("rejected DICOM files")

    def __str__(self) -> str:
        return f"{self.sop_uid}: {self.code}"
