"""DRF's tokens (rest_framework.authtoken, kept in clear) become hashed API tokens.

The authtoken app is no longer installed, so its table is read with plain SQL when an older
installation has it: each key is stored as its SHA-256 (it keeps working, with the same header),
and the clear keys are then deleted. A new database has no such table; nothing happens.
"""

import hashlib
from datetime import UTC

from django.db import migrations
from django.utils import timezone
from django.utils.dateparse import parse_datetime

OLD_TABLE = "authtoken_token"


def hash_drf_tokens(apps, schema_editor) -> None:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if OLD_TABLE not in connection.introspection.table_names(cursor):
            return
        table = connection.ops.quote_name(OLD_TABLE)
        cursor.execute(f"SELECT {connection.ops.quote_name('key')}, user_id, created FROM {table}")
        rows = cursor.fetchall()
    ApiToken = apps.get_model("teams", "ApiToken")
    for key, user_id, created in rows:
        token = ApiToken.objects.create(
            user_id=user_id, prefix=key[:8], digest=hashlib.sha256(key.encode()).hexdigest()
        )
        ApiToken.objects.filter(pk=token.pk).update(created_at=_aware(created))
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table}")


def _aware(value):
    """SQLite hands the raw column back as naive UTC text; PostgreSQL as an aware datetime."""
    moment = parse_datetime(value) if isinstance(value, str) else value
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, UTC)
    return moment


class Migration(migrations.Migration):
    dependencies = [("teams", "0002_api_tokens")]

    operations = [migrations.RunPython(hash_drf_tokens, migrations.RunPython.noop)]
