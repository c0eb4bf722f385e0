"""Where the datasets live: `--data-dir`, else `$LATENTLAB_DATA`, else `./data`."""

from __future__ import annotations

import os
from pathlib import Path

ROOT_RULE = "the data root is --data-dir, else $LATENTLAB_DATA, else ./data"


def data_root(flag: str | Path | None = None) -> Path:
    """The data root: `flag` if given (the CLI's --data-dir), else $LATENTLAB_DATA, else ./data.

    An empty string counts as not given, so `LATENTLAB_DATA=` falls through to ./data.
    """
    if flag:
        return Path(flag).expanduser()
    env = os.environ.get("LATENTLAB_DATA")
    if env:
        return Path(env).expanduser()
    return Path("data")
