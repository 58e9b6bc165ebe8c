"""The DICOMweb server (PS3.18) and WADO-URI, scoped to the caller's teams.

One concern per module: ``urls`` (the routes, mounted at ``/dicomweb/`` by lab/urls.py),
``views`` (authentication, access and streaming; also ``wado_uri`` at ``/wado``), ``protocol``
(Accept negotiation, multipart bodies, DICOM JSON, QIDO-RS parameters; no Django), ``files``
(headers, frames and renderings read from stored files; no Django), ``search`` (QIDO-RS
querysets), ``xml`` (the PS3.19 Native DICOM Model) and ``proxy`` (forwarding to a team's PACS).

Nothing is imported here, so the pure modules load without Django.
"""
