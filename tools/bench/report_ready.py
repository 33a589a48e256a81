"""The one line a worker prints when it is ready (read by common.Worker)."""

from __future__ import annotations

import json
import os


def ready(**extra: object) -> None:
    print(json.dumps({"ready": True, "pid": os.getpid(), **extra}), flush=True)
