"""Where vidsearch keeps things, and the user's settings.

Every path has an environment override so tests (and users with unusual setups) never touch the
real home: `VIDSEARCH_HOME` moves data, cache and settings under one folder; `VIDSEARCH_DB` and
`VIDSEARCH_MODEL` override the database and the default model alone. `RunSettings` holds the
other environment variables (precision, offline mode), read in this module only.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from vidsearch.errors import UsageError

APP_NAME = "vidsearch"
DEFAULT_MODEL = "clip4clip-webvid150k"
_TRUE = {"1", "true", "yes", "on"}


def _home_override() -> Path | None:
    home = os.environ.get("VIDSEARCH_HOME")
    return Path(home).expanduser() if home else None


def data_dir() -> Path:
    home = _home_override()
    if home:
        return home / "data"
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME))


def cache_dir() -> Path:
    home = _home_override()
    if home:
        return home / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME))


def config_dir() -> Path:
    home = _home_override()
    if home:
        return home / "config"
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME))


def models_dir() -> Path:
    """User models: fine-tunes and imported cards live here as `NAME/card.toml` + weights."""
    return data_dir() / "models"


def feedback_path() -> Path:
    """The TUI's `+`/`-` marks, a labels.csv with a `negative` column (`train/feedback.py`)."""
    return data_dir() / "feedback.csv"


def weights_cache_dir() -> Path:
    return cache_dir() / "weights"


def settings_path() -> Path:
    return config_dir() / "settings.toml"


def default_db_path() -> Path:
    env = os.environ.get("VIDSEARCH_DB")
    return Path(env).expanduser() if env else data_dir() / "library.db"


@dataclass
class Settings:
    """The user's settings file (`settings.toml`); every field is optional there."""

    model: str = DEFAULT_MODEL
    player: list[str] = field(default_factory=list)  # argv template, "{path}" and "{seconds}"

    @property
    def active_model(self) -> str:
        return os.environ.get("VIDSEARCH_MODEL") or self.model


@dataclass(frozen=True)
class RunSettings:
    """How models run, from the environment: read once by the command or the TUI and passed
    down, so library code takes them as arguments and never reads the environment itself."""

    precision: str = "auto"  # VIDSEARCH_PRECISION: auto, fp32, fp16, bf16
    offline: bool = False  # VIDSEARCH_OFFLINE or HF_HUB_OFFLINE: never download weights


def read_run_settings() -> RunSettings:
    return RunSettings(precision=os.environ.get("VIDSEARCH_PRECISION") or "auto",
                       offline=_offline())


def terminal_names() -> dict[str, str]:
    """What the terminal says it is (TERM_PROGRAM, LC_TERMINAL): the only way to tell the
    terminals that draw iTerm2's inline images, which no escape-code query reveals."""
    return {name: os.environ[name] for name in ("TERM_PROGRAM", "LC_TERMINAL")
            if name in os.environ}


def worker_path_map() -> list[str]:
    """`VIDSEARCH_PATH_MAP` on a cluster worker's machine: `SRC=DST` entries separated by
    os.pathsep, where this machine mounts the driver's folders (they win over the run's map)."""
    return [entry for entry in os.environ.get("VIDSEARCH_PATH_MAP", "").split(os.pathsep)
            if entry]


def keep_local_ray_quiet() -> None:
    """A Ray started just for one run sends no usage reports (unless the user chose)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def _offline() -> bool:
    if any(os.environ.get(name, "").lower() in _TRUE
           for name in ("VIDSEARCH_OFFLINE", "HF_HUB_OFFLINE")):
        return True
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    return bool(constants.HF_HUB_OFFLINE)


def load_settings(path: Path | None = None) -> Settings:
    path = path or settings_path()
    if not path.exists():
        return Settings()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})", "fix or delete the settings file") from exc
    settings = Settings()
    if isinstance(raw.get("model"), str):
        settings.model = raw["model"]
    player = raw.get("player")
    if isinstance(player, list) and all(isinstance(part, str) for part in player):
        settings.player = player
    return settings


def save_setting(key: str, value: str, path: Path | None = None) -> None:
    """Set one top-level setting, keeping the rest of the file as it was (comments too)."""
    from vidsearch import tomlfile

    path = path or settings_path()
    document = tomlfile.read_document(path)
    document[key] = value
    tomlfile.write_document(path, document)
