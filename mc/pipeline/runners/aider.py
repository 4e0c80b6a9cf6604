"""aider (PyPI aider-chat 0.86), unattended in its sandbox.

    aider --yes-always --no-git --no-gitignore --no-check-update --no-show-release-notes
          --no-analytics --no-show-model-warnings --no-pretty
          --chat-history-file /dev/null --input-history-file /dev/null
          --message-file {prompt_file} [--model MODEL]

`--no-git`: mc commits coder work itself (aider with git would `git init` a plain folder,
add .aider* to .gitignore and commit on its own); the history files go nowhere, so
nothing but the work is left in the workspace. aider writes only where it works, so
outside coder work what it leaves in its workspace is its output (collect_workspace).

aider exits 0 on every failure: an authentication error, a rate limit after its own
retries (about a minute, not configurable), an edit it never made. Its verdict is in
its words: `litellm.AuthenticationError: ...` (wrapped at 80 columns), "Applied edit to
FILE", and per message "Tokens: 652 sent, 13 received. Cost: $0.0018 message, $0.0018
session." (1.2k for thousands; no cost for a model litellm does not know).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from pathlib import Path

from mc.pipeline.runners.base import (
    LineReader,
    Outcome,
    Run,
    Runner,
    Usage,
    Verdict,
    check_exit,
    one_line,
    register,
    tail,
)

PERMANENT = {
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "BadRequestError",
    "ContextWindowExceededError",
    "ContentPolicyViolationError",
}
TEMPORARY = {
    "RateLimitError",
    "InternalServerError",
    "ServiceUnavailableError",
    "APIConnectionError",
    "Timeout",
    "APIError",
}
_ERROR = re.compile(r"litellm\.(\w+):\s*(.*)")
_NUMBER = r"([\d.,]+k?)"
_TOKENS = re.compile(
    rf"Tokens: {_NUMBER} sent(?:, {_NUMBER} cache write)?(?:, {_NUMBER} cache hit)?, "
    rf"{_NUMBER} received\.(?: Cost: \$([\d.]+) message, \$([\d.]+) session\.)?"
)


def _count(text: str | None) -> int:
    if not text:
        return 0
    text = text.replace(",", "")
    return int(float(text[:-1]) * 1000) if text.endswith("k") else int(float(text))


def usage_of(output: str) -> Usage | None:
    """The sum of its per-message "Tokens: ..." lines; the cost is the session's last."""
    found = _TOKENS.findall(output)
    if not found:
        return None
    sent = sum(_count(m[0]) for m in found)
    cached = sum(_count(m[2]) for m in found)
    received = sum(_count(m[3]) for m in found)
    costs = [m[5] for m in found if m[5]]
    return Usage(sent, received, cached, float(costs[-1]) if costs else None)


def _error(text: str) -> tuple[str, str] | None:
    """litellm's error class and its message (the lines it wrapped, joined)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        found = _ERROR.search(line)
        if found is None:
            continue
        words = [found.group(2)]
        for more in lines[i + 1 : i + 4]:
            if not more.strip() or more.startswith(("Retrying", "litellm.")):
                break
            words.append(more.strip())
        message = " ".join(words)
        message = re.sub(r"^\w+Error:\s*", "", message)  # "AuthenticationError: ..." twice
        return found.group(1), message
    return None


def judge(run: Run, outcome: Outcome) -> Verdict:
    text = f"{outcome.stdout}\n{outcome.stderr}"
    usage = usage_of(text)
    failed = _error(text)
    if failed is not None:
        kind, message = failed
        said = f"aider: {kind}: {one_line(message)}"
        if kind in TEMPORARY:
            return Verdict(False, said, temporary=True, usage=usage)
        return Verdict(False, said, permanent=kind in PERMANENT, usage=usage)
    exited = check_exit(run, outcome)
    if exited is not None:
        return exited._replace(usage=usage)
    if run.kind == "work" and "Applied edit to" not in outcome.stdout:
        return Verdict(False, f"aider made no edit: {tail(outcome.stdout)}", usage=usage)
    return Verdict(True, summary=tail(outcome.stdout, 5), usage=usage)


def reader() -> LineReader:
    """Its output is words already; only its cost lines and edits are marked."""

    def read(line: str) -> str | None:
        if line.startswith("Applied edit to "):
            return f"✓ edited {line.removeprefix('Applied edit to ').strip()}"
        if line.startswith("Tokens: "):
            return line.strip()
        found = _ERROR.search(line)
        if found is not None:
            return f"✗ {found.group(1)}: {one_line(found.group(2), 200)}"
        return None

    return read


def gives_up(stream: str, line: str) -> bool:
    """aider retries a rate limit or an overload for a minute on its own (no flag stops
    it): the first such error ends the run, and mc requeues it with its own backoff."""
    found = _ERROR.search(line)
    return found is not None and found.group(1) in TEMPORARY


def prepare(run: Run, home: Path, env: Mapping[str, str]) -> None:
    """aider fetches the model price list from GitHub on every run without a fresh copy
    in its cache: give it litellm's own, so it neither waits nor warns offline."""
    program = shutil.which("aider", path=env.get("PATH"))
    if program is None:
        return
    root = Path(program).resolve().parent.parent
    prices = "lib/python3*/site-packages/litellm/model_prices_and_context_window_backup.json"
    for backup in root.glob(prices):
        cache = home / ".aider" / "caches" / "model_prices_and_context_window.json"
        cache.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(backup, cache)
        return


register(
    Runner(
        "aider",
        ("aider", "--yes-always", "--no-git", "--no-gitignore", "--no-check-update",
         "--no-show-release-notes", "--no-analytics", "--no-show-model-warnings",
         "--no-pretty", "--chat-history-file", "/dev/null", "--input-history-file", "/dev/null",
         "--message-file", "{prompt_file}"),
        judge,
        model_args=("--model", "{model}"),
        env={"TERM": "dumb", "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        home=(".aider.conf.yml", ".aider.model.settings.yml"),
        install="pipx install aider-chat",
        reader=reader,
        prepare=prepare,
        collect_workspace=True,
        gives_up=gives_up,
    )
)  # fmt: skip
