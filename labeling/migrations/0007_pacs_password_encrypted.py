"""PACS passwords are encrypted at rest: the column becomes text (ciphertext is longer than the
password) and the stored plaintext is encrypted in place; going back decrypts it.

Rows are read and written with SQL, not through the model: the historical model's field already
decrypts, and would take the plaintext still stored for ciphertext it cannot read.
"""

from django.db import migrations

import labeling.fields
from labeling.fields import Undecryptable, decrypt, encrypt


def _rows(schema_editor, apps):
    table = schema_editor.quote_name(apps.get_model("labeling", "PacsConnection")._meta.db_table)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT id, password FROM {table} WHERE password <> ''")
        return table, cursor.fetchall()


def _update(schema_editor, table, pk, password):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET password = %s WHERE id = %s", [password, pk])


def encrypt_passwords(apps, schema_editor):
    table, rows = _rows(schema_editor, apps)
    for pk, stored in rows:
        if isinstance(decrypt(stored), Undecryptable):  # plaintext (not already ours)
            _update(schema_editor, table, pk, encrypt(stored))


def decrypt_passwords(apps, schema_editor):
    """Back to plaintext; a value no configured key decrypts is useless, so it becomes empty."""
    table, rows = _rows(schema_editor, apps)
    for pk, stored in rows:
        plain = decrypt(stored)
        _update(schema_editor, table, pk, "" if isinstance(plain, Undecryptable) else plain)


class Migration(migrations.Migration):

    dependencies = [
        ('labeling', '0006_teams_layer'),
    ]

    operations = [
        migrations.AlterField(
            model_name='pacsconnection',
            name='password',
            field=labeling.fields.EncryptedTextField(blank=True, verbose_name='password'),
        ),
        migrations.RunPython(encrypt_passwords, decrypt_passwords),
    ]
