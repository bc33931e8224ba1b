"""`vidsearch models use X` changes one setting and keeps the rest of settings.toml as written."""

from __future__ import annotations

import tomllib

from vidsearch import config
from vidsearch.cli import main

SETTINGS = """\
# my settings: keep this comment
model = "clip4clip-webvid150k"
player = ["mpv", "--start={seconds}", "{path}"]
volume = 70

[tui]
rows = 20  # results per screen
"""


def test_models_use_keeps_comments_tables_and_numbers(isolated_home, capsys):
    path = config.settings_path()
    path.parent.mkdir(parents=True)
    path.write_text(SETTINGS, encoding="utf-8")

    assert main(["models", "use", "clip-vit-b-32-openai"]) == 0

    text = path.read_text(encoding="utf-8")
    assert text == SETTINGS.replace('"clip4clip-webvid150k"', '"clip-vit-b-32-openai"')
    assert tomllib.loads(text)["tui"] == {"rows": 20}
    assert config.load_settings().model == "clip-vit-b-32-openai"


def test_models_use_creates_the_file(isolated_home, capsys):
    assert main(["models", "use", "clip-vit-b-32-openai"]) == 0
    assert tomllib.loads(config.settings_path().read_text()) == {"model": "clip-vit-b-32-openai"}
