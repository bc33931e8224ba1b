"""`vidsearch models`: list model cards, import weights, choose the default model."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from vidsearch.cli import common

log = logging.getLogger(__name__)


def register(subparsers, shared) -> None:
    parser = common.add_command(
        subparsers, "models",
        help="list models, import weights, choose the default",
        description="Model cards, whether their weights are here, and which one is the default.",
        examples="  vidsearch models\n"
                 "  vidsearch models import clip4clip-webvid150k ~/Downloads/model.safetensors\n"
                 "  vidsearch models use clip-vit-b-32-openai",
        parents=[shared],
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("list", help="list the models (the default action)", parents=[shared])
    importer = actions.add_parser("import", help="store a weights file for a model",
                                  parents=[shared])
    importer.add_argument("name", help="model card name")
    importer.add_argument("file", type=Path, help="weights file (safetensors, .bin or .pt)")
    use = actions.add_parser("use", help="make a model the default", parents=[shared])
    use.add_argument("name", help="model card name")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from vidsearch import config
    from vidsearch.model import cards, weights

    if args.action == "import":
        target = weights.import_weights(args.name, args.file,
                                        offline=common.run_settings(args).offline)
        common.say(f"stored weights for {args.name} at {target}")
        return 0
    if args.action == "use":
        card = cards.load_card(args.name)
        config.save_setting("model", card.name)
        in_library = library_model(args)
        if in_library is None:
            common.say(f"default model: {card.name}")  # no library yet: nothing to re-embed
        elif in_library == card.name:
            common.say(f"default model: {card.name} (the library already uses it)")
        else:
            common.say(f"default model: {card.name} (the next `vidsearch index` re-embeds the "
                       f"library, now indexed with {in_library})")
        return 0
    print_models(cards.list_cards(), config.load_settings().active_model, cards, weights)
    return 0


def library_model(args: argparse.Namespace) -> str | None:
    """The name of the model the library's vectors belong to; None with no library yet."""
    from vidsearch.errors import VidsearchError
    from vidsearch.store import open_store

    db = common.db_path(args)
    if not db.exists():
        return None
    try:
        with open_store(db, create=False) as store:
            return store.get_meta("model_name") if store.has_videos() else None
    except VidsearchError as exc:
        # The setting is saved either way; a library that cannot be read only loses the note.
        log.warning("%s", exc)
        return None


# Below this the description column gets a few words a line and each card takes six lines:
# each card is then a line of facts with its description under it, at full width.
TABLE_WIDTH = 110


def print_models(all_cards, active: str, cards_module, weights) -> None:
    from rich.console import Console
    from rich.text import Text

    rows, unusable = [], []
    for card in all_cards:
        state, why = describe_weights(card, cards_module, weights)
        if why is not None:
            unusable.append((card, why))
        rows.append((card, state))
    console = Console()
    console.print(_table(rows, active) if console.width >= TABLE_WIDTH
                  else _stacked(rows, active))
    # Below the table, where a reason has room: the weights column stays one word wide.
    for card, why in unusable:
        console.print(Text(f"{card.name}: weights unusable: {why}\n"
                           f"  replace them: vidsearch models import {card.name} FILE"))


def _table(rows, active: str):
    from rich.table import Table
    from rich.text import Text

    table = Table(show_edge=False, header_style="bold")
    # The "default" column is the one place that says which card is the default: a card's
    # description cannot know what `models use` chose since.
    for column in ("default", "name", "header", "patch", "weights"):
        # A name is what the user types next (`models use NAME`): never broken across lines.
        table.add_column(column, no_wrap=True)
    table.add_column("description", ratio=1)  # the one column that wraps to fit
    for card, state in rows:
        table.add_row("*" if card.name == active else "", Text(card.name), card.header,
                      card.patch, state, Text(card.description or ""))
    return table


def _stacked(rows, active: str):
    """The narrow layout: `* NAME  header meanP, patch 2d, weights here`, the description
    wrapped under it."""
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 1))
    # The wide table's "default" header says what the star means; here a caption does.
    grid.caption = "(* marks the model index and find use; vidsearch models use NAME changes it)"
    grid.caption_justify = "left"
    grid.add_column(no_wrap=True)
    grid.add_column(ratio=1)
    for card, state in rows:
        text = Text(card.name, style="bold")
        text.append(f"  header {card.header}, patch {card.patch}, weights {state}")
        if card.description:
            text.append("\n" + card.description, style="dim")
        grid.add_row("*" if card.name == active else " ", text)
    return grid


def describe_weights(card, cards_module, weights) -> tuple[str, str | None]:
    """'here', 'missing', or 'unusable' with why: a file whose header says it cannot load, or
    that its tensors do not fit the card's architecture."""
    from vidsearch.display import printable
    from vidsearch.model.fit import describe_unusable

    path = None
    if card.weights_source == "local" and card.folder is not None:
        own = card.folder / cards_module.USER_WEIGHTS_FILENAME
        path = own if own.is_file() else None
    path = path or weights.cached_weights(card.name)
    if path is None:
        return "missing", None
    why = describe_unusable(path, card)
    return ("unusable", f"{why} ({printable(str(path))})") if why else ("here", None)
