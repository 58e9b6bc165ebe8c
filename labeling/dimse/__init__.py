"""Classic DICOM networking (DIMSE) with pynetdicom: the storage listener (issue #14).

- ``titles``: AE titles and the A-ASSOCIATE-RJ reasons (pure, no Django).
- ``server``: the pynetdicom side (pure, no Django): one association server per team, which
  asks a gate before it accepts an association and hands each C-STORE to a store callable;
  the :class:`~labeling.dimse.server.Supervisor` starts, changes and stops servers to match
  the configuration it is given.
- ``listener``: the Django side: the teams' settings and peers read from the database, every
  received file imported through ``labeling.services`` (the path uploads take), and the event
  log that the listener page reads (``labeling/dimse_views.py``).
"""
