"""CLIP's BPE tokenizer in plain Python: the same token ids as open_clip's `SimpleTokenizer`,
from open_clip's vocabulary file read as data, with neither torch nor open_clip imported.

The steps are open_clip's (itself OpenAI's CLIP, MIT licence): ftfy and HTML unescaping,
whitespace collapsed, lower case, the same split pattern, byte-level BPE by merge rank, and
captions longer than the context cut with the end token kept last.
"""

from __future__ import annotations

import gzip
import html
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from vidsearch.errors import CannotRunError
from vidsearch.model.text_spec import bpe_vocab_path

START, END = "<start_of_text>", "<end_of_text>"
# open_clip keeps the first 48,894 merges of the file (49,152 ids less 256 bytes and 2 specials).
_MERGES = 49152 - 256 - 2
_UNRANKED = float("inf")


@lru_cache(maxsize=1)
def _byte_to_unicode() -> dict[int, str]:
    """Each byte as a printable character, so BPE never sees whitespace or control codes."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars)))


class ClipTokenizer:
    """Text -> int64 token ids, `context_length` wide, zero-padded, as open_clip gives them."""

    def __init__(self, context_length: int = 77, vocab: Path | None = None) -> None:
        import regex

        vocab = vocab or bpe_vocab_path()
        if vocab is None:
            raise CannotRunError(
                "cannot find CLIP's BPE vocabulary (open_clip's bpe_simple_vocab_16e6.txt.gz)",
                "install open_clip_torch (pip install --no-deps open_clip_torch is enough)")
        lines = gzip.decompress(vocab.read_bytes()).decode("utf-8").split("\n")
        # Merges stay the file's "first second" lines (no symbol holds a space): splitting
        # 48,894 lines into pairs was a third of a cold query's tokenizer set-up.
        merges = lines[1:_MERGES + 1]
        byte_chars = list(_byte_to_unicode().values())
        words = byte_chars + [c + "</w>" for c in byte_chars]
        words += [merge.replace(" ", "") for merge in merges]
        words += [START, END]
        self._ids = {word: index for index, word in enumerate(words)}
        self._ranks = {merge: rank for rank, merge in enumerate(merges)}
        self._cache = {START: START, END: END}
        self._pattern = regex.compile(
            rf"{START}|{END}|'s|'t|'re|'ve|'m|'ll|'d|[\p{{L}}]+|[\p{{N}}]|[^\s\p{{L}}\p{{N}}]+",
            regex.IGNORECASE)
        self.context_length = context_length
        self.start_id = self._ids[START]
        self.end_id = self._ids[END]
        self.vocab_size = len(self._ids)

    def encode(self, text: str) -> list[int]:
        """The BPE ids of `text`, without start and end tokens."""
        byte_chars = _byte_to_unicode()
        ids: list[int] = []
        for piece in self._pattern.findall(_clean(text)):
            piece = "".join(byte_chars[b] for b in piece.encode("utf-8"))
            ids.extend(self._ids[word] for word in self._bpe(piece).split(" "))
        return ids

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            texts = [texts]
        result = np.zeros((len(texts), self.context_length), dtype=np.int64)
        for row, text in enumerate(texts):
            ids = [self.start_id, *self.encode(text), self.end_id]
            if len(ids) > self.context_length:
                ids = ids[:self.context_length]
                ids[-1] = self.end_id
            result[row, :len(ids)] = ids
        return result

    def _bpe(self, token: str) -> str:
        cached = self._cache.get(token)
        if cached is not None:
            return cached
        word = (*token[:-1], token[-1] + "</w>")
        ranks = self._ranks
        while len(word) > 1:
            pairs = set(zip(word, word[1:]))
            best = min(pairs, key=lambda pair: ranks.get(f"{pair[0]} {pair[1]}", _UNRANKED))
            if f"{best[0]} {best[1]}" not in ranks:
                break
            word = _merge(word, best)
        joined = " ".join(word)
        self._cache[token] = joined
        return joined


def _merge(word: tuple[str, ...], pair: tuple[str, str]) -> tuple[str, ...]:
    first, second = pair
    merged: list[str] = []
    i = 0
    while i < len(word):
        if word[i] == first and i + 1 < len(word) and word[i + 1] == second:
            merged.append(first + second)
            i += 2
        else:
            merged.append(word[i])
            i += 1
    return tuple(merged)


def _clean(text: str) -> str:
    if not _needs_no_fixing(text):
        import ftfy  # ~60 ms to import, most of a typed query's tokenizing: only when it can act

        text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text)).strip()
    return " ".join(text.split()).lower()


def _needs_no_fixing(text: str) -> bool:
    """Printable ASCII without an HTML entity, which ftfy leaves as it is: it repairs mojibake,
    odd code points and control characters, and unescapes entities (tests/unit/
    test_model_tokenizer.py holds it to that)."""
    return text.isascii() and text.isprintable() and "&" not in text
