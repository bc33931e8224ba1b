"""Image queries on ONNX Runtime: the image tower's checked export (made by `index` on a CPU,
or by the first image query on torch) and numpy pixels, so the query imports no torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vidsearch.model.pixels import Preprocess, fit_square


def open_session(graph: Path, threads: int):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Idle threads spinning for work cost a busy machine more than they save one picture.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])


class OnnxImageEncoder:
    """`embed_image` (model/protocols.py) on an exported image tower: raw features, as the
    torch model gives them."""

    def __init__(self, graph: Path, preprocess: Preprocess, threads: int) -> None:
        self.graph = graph
        self.preprocess = preprocess
        self.session = open_session(graph, threads)

    def embed_image(self, image: np.ndarray) -> np.ndarray:
        frame = fit_square(image, self.preprocess.image_size)
        pixels = self.preprocess.normalise(frame[np.newaxis])
        features = self.session.run(None, {"pixels": pixels})[0]
        return np.asarray(features[0], dtype=np.float32)
