"""Watching a job's live page until its job has finished."""

FINISHED = {"succeeded", "failed", "cancelled"}


def watch_job(page, polls: int = 240) -> set[float]:
    """Read the page every half second until the status is final (the page polls the API and
    reloads itself once at the end); returns the progress bar values seen on the way."""
    from playwright.sync_api import Error as PlaywrightError

    seen = set()
    for _ in range(polls):
        try:
            seen.add(round(float(page.eval_on_selector("#job-progress", "e => e.value")), 2))
            if page.locator("#job-status").inner_text() in FINISHED:
                break
        except PlaywrightError:  # the reload, mid-read
            page.wait_for_load_state()
        page.wait_for_timeout(500)
    return seen
