"""The built-in `demo` runner's agent: behaves like an agent, does no real work.

It reads the brief, prints a few progress lines over a few seconds, and leaves a
short report in MC_OUTPUT_DIR; as the reviewer it writes a passing verdict.json. It
lets a newcomer watch the whole loop (`mc demo`) without any agent CLI installed.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main() -> int:
    output = Path(os.environ["MC_OUTPUT_DIR"])
    brief = Path(os.environ["MC_PROMPT_FILE"]).read_text()
    project = os.environ.get("MC_PROJECT_ID", "?")
    reviewer = os.environ.get("MC_ARCHETYPE") == "reviewer"
    seconds = float(os.environ.get("DEMO_AGENT_SECONDS", "3"))
    steps = ["reading the brief", "working", "writing it up"]
    for step in steps:
        print(f"[demo agent] {project}: {step}…", flush=True)
        time.sleep(seconds / len(steps))
    output.mkdir(parents=True, exist_ok=True)
    if reviewer:
        verdict = {"verdict": "pass", "notes": "Demo review: the report answers the brief."}
        (output / "verdict.json").write_text(json.dumps(verdict, indent=2) + "\n")
        print("[demo agent] verdict: pass", flush=True)
    else:
        title = next((line for line in brief.splitlines() if line.startswith("# ")), "# Report")
        (output / "report.md").write_text(
            f"{title}\n\nThis is the demo runner's report. A real agent would have done the "
            f"work described in the brief ({len(brief.split())} words).\n"
        )
        print("[demo agent] wrote report.md", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
