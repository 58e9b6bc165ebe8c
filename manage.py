#!/usr/bin/env python
"""Django's command-line utility for CXR Lab."""

import os
import sys


def main() -> None:
    from lab.localenv import load

    load()  # in a shell that sets neither DEBUG nor SECRET_KEY: what `make run` ran with
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lab.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # A configuration mistake is the operator's to fix: say what, not where in Django.
        sys.stderr.write(f"cxr-lab: configuration error: {exc}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
