"""Hooks installed by mc before 0.2 import their entry points from here; `mc hooks
install --force` writes hooks that import ``mc.board.hooks.run`` directly."""

from mc.board.hooks.run import commit_msg, pre_commit, pre_receive

__all__ = ["commit_msg", "pre_commit", "pre_receive"]
