"""Where the files shipped beside the package live: board/, webui/, hooks/.

An installed wheel carries them in ``mc/_data/``; a source checkout has them at the
repository's top.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    for candidate in (_HERE / "_data" / name, _HERE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"mc is installed without its {name}/ folder")
