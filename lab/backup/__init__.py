"""Backup and restore of one team: rows, files and secrets in one encrypted, streamed archive.

``create.backup_team`` writes it (``manage.py backup``), ``restore.restore_team`` reads it into a
new team (``manage.py restore``). ``plan`` says which models make up a team (from the app
registry), ``refs`` which ids hide in JSON columns, ``files`` where a team's files live,
``archive`` the layout inside the stream, ``crypto`` the encryption.
"""
