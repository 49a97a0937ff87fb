"""A worker-like process: publishes a run's events through the worker's own code
path (the engine's event sink) and prints, per event, the wall-clock time just
before publishing, as JSON lines. Started by tests and the stream benchmark::

    python -m tests.live.publisher RUN_ID --count 50 --interval 0.1 [--wait-file F]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_id")
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--go-file", help="wait until this file exists before publishing")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "migrator_site.settings")
    import django

    django.setup()
    from migrations_app.engine_bridge import DjangoEventSink, Scrubber

    sink = DjangoEventSink(uuid.UUID(args.run_id), Scrubber([]), min_interval=0)
    print(json.dumps({"ready": True}), flush=True)
    if args.go_file:
        while not Path(args.go_file).exists():
            time.sleep(0.02)
    for n in range(1, args.count + 1):
        sent = time.time()
        sink.log(f"✓ ADO #{n} [Task] → BENCH-{n} sent={sent:.6f}")
        print(json.dumps({"n": n, "sent": sent}), flush=True)
        time.sleep(args.interval)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
