"""`make demo`: the whole talk's pipeline, on a private bus.

The newest plotting step's server on two sockets (and a simulated GPIO line),
the feeder sending this machine's load average and a sine wave, and the
plotting client: a live window where there is a display (close it or Ctrl-C
to stop), otherwise a picture written after DURATION seconds (default 12).
"""

from __future__ import annotations

import os
import sys

from tools import stage, table


def main() -> int:
    plotting = [step for step in table.load() if "display" in step.needs and step.client]
    if not plotting:
        print("demo: no plotting step in steps/steps.toml yet", file=sys.stderr)
        return 1
    argv = [str(plotting[-1].n), "--no-tmux"]
    if not stage.has_display():
        argv += ["--seconds", os.environ.get("DURATION") or "12"]
    return stage.main(argv)


if __name__ == "__main__":
    sys.exit(main())
