"""aider (`aider`, PyPI aider-chat), unattended in its sandbox."""

from __future__ import annotations

from .base import Runner, register
from .plain import judge_plain

register(
    Runner(
        "aider",
        ("aider", "--yes-always", "--no-auto-commits", "--message-file", "{prompt_file}"),
        judge_plain,
        model_args=("--model", "{model}"),
        home=(".aider.conf.yml", ".aider.model.settings.yml"),
        install="pipx install aider-chat",
    )
)
