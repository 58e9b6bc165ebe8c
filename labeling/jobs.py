"""The ``pacs_pull`` job: retrieve chosen studies instance by instance into the job's team.

Each instance goes through ``services.ingest_file`` like any other import, so de-identification,
validation and duplicate handling apply unchanged. Registered from
``LabelingConfig.ready()``.
"""

from __future__ import annotations

import io
import logging

from dicomweb_client.api import DICOMwebClient
from django.utils.translation import gettext_lazy as _

from jobs.registry import runner
from jobs.worker import JobContext

from . import services
from .models import PacsConnection
from .pacs import PACS_ERRORS, UNUSABLE_ANSWER, PacsError, PacsRefused, client_for, failure

log = logging.getLogger("labeling.pacs")


@runner("pacs_pull", label=_("PACS pull"), permanent=(PacsRefused,))
def pull(context: JobContext) -> dict:
    """Retrieve the chosen studies, instance by instance, into the job's team."""
    job = context.job
    connection = PacsConnection.objects.filter(team=job.team).first()
    if connection is None:
        raise PacsError("this team has no PACS connection any more")
    client = client_for(connection, retry=True)
    try:
        return _pull(context, connection, client)
    except (*PACS_ERRORS, *UNUSABLE_ANSWER) as exc:
        # The job's error, traceback and log are the team's to read: details go to the operator.
        raise failure(exc) from None


def _pull(context: JobContext, connection: PacsConnection, client: DICOMwebClient) -> dict:
    job = context.job
    wanted = _instances(client, job.config.get("studies", []))
    counts = {"imported": 0, "duplicate": 0, "rejected": 0}
    rejected = []
    for done, (study, series, sop) in enumerate(wanted, start=1):
        dataset = client.retrieve_instance(study, series, sop)
        buffer = io.BytesIO()
        dataset.save_as(buffer, enforce_file_format=True)
        buffer.seek(0)
        result = services.ingest_file(job.team, buffer, name=f"{connection.name}:{sop}")
        counts[result.status] += 1
        if result.status == "rejected":
            rejected.append(result.as_dict())
            log.warning("rejected %s: %s", sop, result.reason)
        context.report({"phase": "pull", "step": done, "total_steps": len(wanted), **counts})
    log.info("pulled %d instances: %s", len(wanted), counts)
    return {"metrics": {**counts, "rejected_files": rejected[:100]}}


def _instances(client: DICOMwebClient, studies: list[str]) -> list[tuple[str, str, str]]:
    found = []
    for study in studies:
        for item in client.search_for_instances(study_instance_uid=study):
            series = item["0020000E"]["Value"][0]
            sop = item["00080018"]["Value"][0]
            found.append((study, series, sop))
    return found
