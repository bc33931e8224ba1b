"""Text queries on ONNX Runtime: the exported text tower and the plain-Python tokenizer, so a
query process imports neither torch nor open_clip."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from vidsearch.model.cards import ModelCard
from vidsearch.model.threads import threads_for
from vidsearch.model.tokenizer import ClipTokenizer

log = logging.getLogger(__name__)

INPUT, OUTPUT = "tokens", "features"


def open_session(graph: Path):
    """An ONNX Runtime session on the CPU (CUDA first where this onnxruntime has it), with the
    query thread count: a query is small matrix products, where more threads only contend."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads_for("query")
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # its warnings are about graph optimisations, not results
    available = onnxruntime.get_available_providers()
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    return onnxruntime.InferenceSession(str(graph), options, providers=providers)


def embed_tokens(session, tokens: np.ndarray) -> np.ndarray:
    """Token ids -> L2-normalised float32 vectors, through the graph."""
    # Causal attention: nothing after the batch's last end token changes an end token's output.
    cut = tokens[:, :int(tokens.argmax(axis=-1).max()) + 1]
    features = session.run([OUTPUT], {INPUT: cut})[0].astype(np.float32, copy=False)
    return features / np.maximum(np.linalg.norm(features, axis=-1, keepdims=True), 1e-12)


class OnnxTextModel:
    """A `TextEncoder` (model/protocols.py) on an exported text tower."""

    can_rerank = False
    device = "cpu"

    def __init__(self, card: ModelCard, fingerprint: str, graph: Path, *, embed_dim: int,
                 context_length: int) -> None:
        self.card = card
        self.fingerprint = fingerprint
        self.graph = graph
        self.embed_dim = embed_dim
        # The session is built in ONNX Runtime's C++ (the GIL let go) and the tokenizer's tables
        # in Python: side by side they cost the longer of the two, ~0.08 s less on a cold query.
        with ThreadPoolExecutor(max_workers=1) as pool:
            session = pool.submit(open_session, graph)
            self.tokenizer = ClipTokenizer(context_length)
            self.session = session.result()

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("embed_texts takes a list of strings, not one string")
        if not texts:
            return np.zeros((0, self.embed_dim), dtype=np.float32)
        return embed_tokens(self.session, self.tokenizer(list(texts)))
