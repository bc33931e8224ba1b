"""Where a card's weights live on the Hugging Face hub, and whether the hub answers at all.

huggingface_hub retries an unreachable hub for many seconds per file and warns on every try;
one short TCP connect tells the same thing in a few seconds, before any download starts, so
the user gets one message with the file's URL to fetch by hand instead.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from vidsearch.model.cards import ModelCard

CONNECT_TIMEOUT_S = 3.0
DEFAULT_ENDPOINT = "https://huggingface.co"
# open_clip's names for a hub repo's weights; it prefers the safetensors one.
OPEN_CLIP_FILENAMES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
HF_FALLBACK_FILENAMES = ("model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True)
class HubFiles:
    repo: str
    filenames: tuple[str, ...]  # in the order to try them

    def url(self, filename: str | None = None, endpoint: str = DEFAULT_ENDPOINT) -> str:
        return f"{endpoint.rstrip('/')}/{self.repo}/resolve/main/{filename or self.filenames[0]}"


def hub_files(card: ModelCard) -> HubFiles | None:
    """The repo and file names a card's weights download from; None when not from the hub."""
    if card.weights_source == "hf" and card.hf_repo:
        names = dict.fromkeys(n for n in (card.hf_filename, *HF_FALLBACK_FILENAMES) if n)
        return HubFiles(card.hf_repo, tuple(names))
    if card.weights_source == "open_clip":
        from open_clip.pretrained import get_pretrained_cfg

        hub = (get_pretrained_cfg(card.arch, card.pretrained or "") or {}).get("hf_hub", "")
        if hub:
            repo, filename = hub.rstrip("/"), ""
            if not hub.endswith("/"):  # 'org/model/file.bin' names its file
                repo, _, filename = hub.rpartition("/")
            names = (filename,) if filename else OPEN_CLIP_FILENAMES
            return HubFiles(repo, names)
    return None


def hub_endpoint() -> str:
    """The hub huggingface_hub talks to (`HF_ENDPOINT` moves it), as that library read it."""
    try:
        from huggingface_hub import constants
    except ImportError:
        return DEFAULT_ENDPOINT
    return str(getattr(constants, "ENDPOINT", DEFAULT_ENDPOINT) or DEFAULT_ENDPOINT)


def check_hub_reachable(endpoint: str | None = None, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Raise OSError unless a TCP connection to the hub opens within `timeout` seconds."""
    parts = urlsplit(endpoint or hub_endpoint())
    port = parts.port or (80 if parts.scheme == "http" else 443)
    with socket.create_connection((parts.hostname or "", port), timeout=timeout):
        pass


@contextlib.contextmanager
def quiet_hub() -> Iterator[None]:
    """huggingface_hub's own warnings off while it downloads: every failure comes back to us
    as an exception, and its warnings repeated each retry's story once per file name tried."""
    hub_log = logging.getLogger("huggingface_hub")
    level = hub_log.level
    hub_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        hub_log.setLevel(level)
