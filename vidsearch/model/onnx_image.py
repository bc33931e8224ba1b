"""Image queries on the image tower's checked ONNX export (made by `index` on a CPU, or by the
first image query on torch) and numpy pixels, so the query imports no torch: in ONNX Runtime,
or in OpenVINO with bf16 arithmetic where that is measured faster (query_image_runtime.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vidsearch.model.pixels import Preprocess, fit_square
from vidsearch.model.query_image_runtime import pick_query_runtime


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
    torch model gives them. `arch` (the model's architecture) lets it measure the runtimes;
    without it, ONNX Runtime."""

    def __init__(self, graph: Path, preprocess: Preprocess, threads: int,
                 arch: str | None = None) -> None:
        self.graph = graph
        self.preprocess = preprocess
        sessions = []

        def onnx_run(pixels: np.ndarray) -> np.ndarray:
            if not sessions:  # opened only if used: not where OpenVINO's verdict stands
                sessions.append(open_session(graph, threads))
            return sessions[0].run(None, {"pixels": pixels})[0]

        self._run, self.runtime = onnx_run, "onnxruntime"
        if arch is not None:
            self._run, self.runtime = pick_query_runtime(
                arch=arch, graph=graph, preprocess=preprocess, onnx_run=onnx_run,
                threads=threads)
        if self.runtime == "onnxruntime" and not sessions:
            # Now, not at the first picture: a graph that cannot load fails where the caller
            # turns to torch instead.
            sessions.append(open_session(graph, threads))

    def embed_image(self, image: np.ndarray) -> np.ndarray:
        frame = fit_square(image, self.preprocess.image_size)
        features = self._run(self.preprocess.normalise(frame[np.newaxis]))
        return np.asarray(features[0], dtype=np.float32)
