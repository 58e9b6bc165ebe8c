"""Logging filters (``LOGGING`` in settings)."""

import logging


class ClientErrorsOneLine(logging.Filter):
    """A 4xx answer (403 for a role that may not act, 400 for bad input) is the client's doing,
    not a bug to debug: its record keeps the reason and drops the traceback, one line each."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500 and record.exc_info:
            reason = " ".join(str(record.exc_info[1]).split())
            record.msg = record.getMessage() + (f" ({reason})" if reason else "")
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True
