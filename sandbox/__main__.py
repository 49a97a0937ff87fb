"""``python -m sandbox``: the sandboxes without Django (same options as ``manage.py sandbox``)."""

from sandbox.runner import main

raise SystemExit(main())
