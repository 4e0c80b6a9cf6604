"""Agent runners (DESIGN §5): the protocol in ``base``, one module per agent CLI.

Every built-in preset registers in the same registry a board's own runners resolve
against (``runners:`` in mc.yaml), so a preset is only a runner that ships with mc.
"""

from __future__ import annotations

from mc.errors import TooMuchOutput, UnsafeOutput
from mc.pipeline.runners import aider, claude, codex, gemini, openclaw, plain  # noqa: F401  (they register)
from mc.pipeline.runners.base import (
    DEMO_AGENT,
    EX_TEMPFAIL,
    PRESETS,
    LineReader,
    Outcome,
    Run,
    Runner,
    Usage,
    Verdict,
    missing,
    read_artifacts,
    read_verdict,
    resolve,
)

__all__ = [
    "DEMO_AGENT",
    "EX_TEMPFAIL",
    "PRESETS",
    "LineReader",
    "Outcome",
    "Run",
    "Runner",
    "TooMuchOutput",
    "UnsafeOutput",
    "Usage",
    "Verdict",
    "missing",
    "read_artifacts",
    "read_verdict",
    "resolve",
]
