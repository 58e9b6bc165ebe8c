"""What every Playwright fixture needs besides the browser."""

from django.db import connections


def close_playwright_connections() -> None:
    """Close the database connections opened while Playwright's sync API was running.

    That API keeps an asyncio loop running in this thread, so Django keeps the connections it
    opens meanwhile per context, not per thread. Leaving the ``with sync_playwright()`` block
    without closing them left one open: on PostgreSQL the test database could then not be
    dropped at the end of the run ("being accessed by other users").
    """
    connections.close_all()
