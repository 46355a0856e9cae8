#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthhub.settings")
    # The query deadlines keep gunicorn's workers free; a command such as
    # export_articles or flush_views may rightly run a long statement.
    os.environ.setdefault("HEALTHHUB_DB_TIMEOUT", "0")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
