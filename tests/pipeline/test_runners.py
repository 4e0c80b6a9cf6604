"""Runners: argv building (never a shell), and judging each agent CLI's output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mc.errors import ConfigError
from mc.pipeline.runners import EX_TEMPFAIL, PRESETS, Outcome, Run, read_verdict, resolve


def _run(tmp_path: Path, kind: str = "work", model: str | None = "sonnet") -> Run:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    return Run(
        project_id="p",
        job_id=7,
        kind=kind,
        archetype="reviewer" if kind == "review" else "coder",
        model=model,
        prompt="Build it; rm -rf / $(whoami) `id`",
        prompt_file=tmp_path / "brief.md",
        output_dir=out,
        workspace=tmp_path / "ws",
    )


def test_the_brief_never_goes_in_argv(tmp_path: Path) -> None:
    run = _run(tmp_path)
    for name, preset in PRESETS.items():
        if not preset.spawns:
            continue
        argv = preset.argv(run)
        assert run.prompt not in argv, name  # by file or stdin: argv is world-readable
        assert preset.stdin or str(run.prompt_file) in argv or name in ("command", "demo"), name
    argv = PRESETS["claude"].argv(run)
    assert argv[-2:] == ["--model", "sonnet"]
    assert "--model" not in PRESETS["claude"].argv(run._replace(model=None))
    with pytest.raises(ConfigError, match=r"\{prompt\} would put the brief in argv"):
        resolve("command", {}, command=["agent", "--message", "{prompt}"])


def test_placeholders_are_filled_once_never_inside_a_value(tmp_path: Path) -> None:
    run = _run(tmp_path)._replace(project_id="p-{model}", model="sonnet")
    argv = resolve("command", {}, command=["a", "{project_id}", "{model}", "{unknown}"]).argv(run)
    assert argv == ["a", "p-{model}", "sonnet", "{unknown}"]


# Structured outputs as each CLI prints them (failures seen on machines without credentials).
CLAUDE_NOT_LOGGED_IN = json.dumps(
    {
        "type": "result",
        "subtype": "success",
        "is_error": True,
        "result": "Not logged in · Please run /login",
    }
)
CLAUDE_OK = json.dumps(
    {"type": "result", "subtype": "success", "is_error": False, "result": "Done."}
)
CODEX_STUCK = "\n".join(
    json.dumps(e)
    for e in ({"type": "thread.started"}, {"type": "error", "message": "Reconnecting... 1/5"})
)
CODEX_FAILED = json.dumps({"type": "turn.failed", "error": {"message": "quota"}})
CODEX_OK = "\n".join(json.dumps(e) for e in ({"type": "turn.started"}, {"type": "turn.completed"}))
# OpenClaw 2026.9, agent exec --json, as it printed them against the stand-in.
OPENCLAW_OK = json.dumps(
    {"ok": True, "status": "ok", "final": "Wrote report.md.",
     "payloads": [{"text": "Wrote report.md.", "mediaUrl": None}],
     "usage": {"input": 240, "output": 60, "cacheRead": 0, "cacheWrite": 0, "total": 300},
     "costUsd": 0.0012, "toolSummary": {"calls": 1, "tools": ["write"], "failures": 0}}
)  # fmt: skip
OPENCLAW_RATE = json.dumps(
    {"ok": False, "status": "error", "final": "", "payloads": [],
     "error": {"message": "⚠️ API rate limit reached. Please try again later.", "kind": "exception"}}
)  # fmt: skip
# Gemini CLI 0.61, -o stream-json, as it printed them against the stand-in.
GEMINI_OK = "\n".join(
    json.dumps(e)
    for e in (
        {"type": "init", "model": "gemini-2.5-flash"},
        {"type": "tool_use", "tool_name": "write_file", "tool_id": "w1",
         "parameters": {"file_path": "/out/report.md", "content": "# Report"}},
        {"type": "tool_result", "tool_id": "w1", "status": "success"},
        {"type": "message", "role": "assistant", "content": "Here is ", "delta": True},
        {"type": "message", "role": "assistant", "content": "the research.", "delta": True},
        {"type": "result", "status": "success",
         "stats": {"input_tokens": 240, "output_tokens": 60, "cached": 20, "tool_calls": 1}},
    )
)  # fmt: skip
_BAD = "API key not valid. Please pass a valid API key."
_KEY = json.dumps({"error": {"code": 401, "message": _BAD, "status": "UNAUTHENTICATED"}})
GEMINI_BAD_KEY = json.dumps(
    {"type": "result", "status": "error",
     "error": {"type": "unknown", "message": f"[API Error: {_KEY}]"}, "stats": {}}
)  # fmt: skip
GEMINI_QUOTA = json.dumps(
    {"type": "result", "status": "error", "stats": {},
     "error": {"type": "unknown", "message": "[API Error: Resource has been exhausted (e.g. "
               "check quota).]\nPlease wait and try again later."}}
)  # fmt: skip
GEMINI_RATE = json.dumps(
    {"type": "result", "status": "error", "stats": {}, "error": {"type": "unknown",
     "message": "[API Error: " + json.dumps({"error": {"code": 429, "message": "slow down",
                                                       "status": "RESOURCE_EXHAUSTED"}}) + "]"}}
)  # fmt: skip
GEMINI_NO_KEY = (
    "When using Gemini API, you must specify the GEMINI_API_KEY environment variable.\n"
    "Update your environment and try again (no reload needed if using .env)!\n"
)


@pytest.mark.parametrize(
    ("preset", "code", "output", "ok", "temporary"),
    [
        ("claude", 0, CLAUDE_NOT_LOGGED_IN, False, False),
        ("claude", 0, CLAUDE_OK, True, False),
        ("claude", 0, "", False, False),
        ("claude", 1, CLAUDE_OK, False, False),
        ("claude", EX_TEMPFAIL, "", False, True),
        ("codex", 0, CODEX_STUCK, False, True),  # reconnecting when it ended: temporary
        ("codex", 0, CODEX_FAILED, False, False),
        ("codex", 0, CODEX_OK, True, False),
        ("gemini", 0, GEMINI_OK, True, False),
        ("gemini", 145, GEMINI_BAD_KEY, False, False),
        ("gemini", 173, GEMINI_RATE, False, True),
        ("gemini", 0, json.dumps({"type": "init"}), False, False),
        ("openclaw", 0, OPENCLAW_OK, True, False),
        ("openclaw", 1, OPENCLAW_RATE, False, True),
        (
            "openclaw",
            0,
            json.dumps({"ok": True, "status": "ok", "final": "", "payloads": []}),
            False,
            False,
        ),
        ("command", 0, "all good\n", True, False),
        ("command", 3, "oops\n", False, False),
    ],
)
def test_exit_zero_is_not_enough(
    tmp_path: Path, preset: str, code: int, output: str, ok: bool, temporary: bool
) -> None:
    verdict = PRESETS[preset].judge(_run(tmp_path), Outcome(code, output))
    assert verdict.ok is ok and verdict.temporary is temporary
    if not ok:
        assert verdict.error


def test_a_review_needs_a_verdict_file(tmp_path: Path) -> None:
    run = _run(tmp_path, "review")
    judge = PRESETS["command"].judge
    assert not judge(run, Outcome(0, "")).ok
    (run.output_dir / "verdict.json").write_text('{"verdict": "maybe"}')
    assert "verdict.json must be" in judge(run, Outcome(0, "")).error
    (run.output_dir / "verdict.json").write_text('{"verdict": "fail", "notes": "tests missing"}')
    assert judge(run, Outcome(0, "")).ok
    assert read_verdict(run.output_dir) == {"verdict": "fail", "notes": "tests missing"}


def test_board_runners_override_and_extend_presets(tmp_path: Path) -> None:
    runners = {
        "my-claude": {"preset": "claude", "args": ["--permission-mode", "acceptEdits"]},
        "mine": {
            "command": ["my-agent", "--prompt-file", "{prompt_file}", "--out", "{output_dir}"]
        },
    }
    run = _run(tmp_path, model=None)
    mine = resolve("my-claude", runners)
    assert mine.argv(run)[-2:] == ["--permission-mode", "acceptEdits"]
    assert mine.judge is PRESETS["claude"].judge
    custom = resolve("mine", runners).argv(run)
    assert custom == [
        "my-agent",
        "--prompt-file",
        str(run.prompt_file),
        "--out",
        str(run.output_dir),
    ]
    with pytest.raises(ConfigError, match="unknown runner"):
        resolve("nope", runners)
    with pytest.raises(ConfigError, match="needs a command"):
        resolve("command", {})
    assert resolve("command", {}, command=["x", "{prompt_file}"]).argv(run) == [
        "x",
        str(run.prompt_file),
    ]
    assert not resolve("handoff", {}).spawns


@pytest.mark.parametrize("archetype", ["writer", "reviewer"])
def test_the_demo_agent_behaves_like_an_agent(tmp_path: Path, archetype: str) -> None:
    import os
    import subprocess

    run = _run(tmp_path, "review" if archetype == "reviewer" else "work", model=None)
    run.prompt_file.write_text("# Write the launch post\n\nAbout the board.\n")
    env = {
        **os.environ,
        "MC_PROJECT_ID": run.project_id,
        "MC_ARCHETYPE": archetype,
        "MC_PROMPT_FILE": str(run.prompt_file),
        "MC_OUTPUT_DIR": str(run.output_dir),
        "DEMO_AGENT_SECONDS": "0.1",
    }
    proc = subprocess.run(PRESETS["demo"].argv(run), env=env, capture_output=True, text=True)
    verdict = PRESETS["demo"].judge(run, Outcome(proc.returncode, proc.stdout, proc.stderr))
    assert verdict.ok, verdict.error
    if archetype == "reviewer":
        assert read_verdict(run.output_dir) == {
            "verdict": "pass",
            "notes": "Demo review: the report answers the brief.",
        }
    else:
        assert (run.output_dir / "report.md").read_text().startswith("# Write the launch post")


def test_the_gemini_judge_reads_its_own_words(tmp_path: Path) -> None:
    judge = PRESETS["gemini"].judge
    ok = judge(_run(tmp_path), Outcome(0, GEMINI_OK))
    assert ok.ok and ok.summary == "Here is the research."
    assert ok.usage is not None and (ok.usage.input_tokens, ok.usage.cached_tokens) == (240, 20)
    bad_key = judge(_run(tmp_path), Outcome(145, GEMINI_BAD_KEY))
    assert bad_key.error == "Gemini CLI: API key not valid. Please pass a valid API key."
    assert bad_key.permanent and not bad_key.temporary
    quota = judge(_run(tmp_path), Outcome(173, GEMINI_QUOTA))
    assert quota.temporary and quota.error.startswith("Gemini CLI: Resource has been exhausted")
    # Its error is on stderr, in plain words: the job says them, not "no output".
    no_key = judge(_run(tmp_path), Outcome(41, "", GEMINI_NO_KEY))
    assert no_key.permanent and "you must specify the GEMINI_API_KEY" in no_key.error
    assert "\n" not in no_key.error


def test_the_gemini_stream_reads_as_words() -> None:
    read = PRESETS["gemini"].reader()
    shown = [read(line) for line in GEMINI_OK.splitlines()]
    assert shown == [
        "Gemini CLI started (gemini-2.5-flash)",
        "→ write_file /out/report.md",
        "✓ write_file",
        "says: Here is",
        "says: the research.",
        "finished (240 tokens in, 60 out, 1 tool calls)",
    ]
    assert read("plain text") is None
