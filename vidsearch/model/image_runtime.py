"""Which runtime runs the image tower on a CPU: torch, or its ONNX export in ONNX Runtime.

Chosen like the precision (precision.py), by measurement on this machine. The export is made
once per weights fingerprint (`model/exports.py`) and checked against torch on fixed frames
(cosine >= MIN_COSINE on every frame); an export that fails its check is never used. Then a
batch goes through both, and ONNX Runtime is used where it is >= MIN_SPEEDUP times torch; the
verdict is remembered per architecture and machine, and measured again on the next runs while
it is close to the line (verdicts.py). Nothing is timed where ONNX Runtime cannot
be used: CUDA, a 3d patch (its frames see their neighbours; the export takes frames one by
one), bf16 frames (ONNX Runtime has no bf16 CPU kernels for them), onnxruntime missing. Any
failure to export, load or run leaves torch in place, said once in the log.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.util
import io
import logging
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vidsearch.model.exports import (ExportCheck, export_path, preprocess_path, read_check,
                                     write_export, write_json)
from vidsearch.model.pixels import Preprocess
from vidsearch.model.verdicts import remembered_verdict

log = logging.getLogger(__name__)

MIN_COSINE = 0.9999
# Lower than bf16's 1.3 (precision.py): bf16 changes the vectors, the export does not (cosine
# >= MIN_COSINE), so this line only has to stand above timing noise, and a verdict near it is
# measured again (verdicts.py). On the AVX2 EPYC of bench/RESULTS.md ONNX Runtime measures
# 1.18-1.29x torch: 1.3 would leave that on the table.
MIN_SPEEDUP = 1.15
PROBE_FRAMES = 16
# Frames per encoder call on a CPU, in torch or ONNX Runtime alike.
CPU_FRAME_BATCH = 32
CHOICES_FILE = "image_runtime.json"

Encode = Callable[[np.ndarray], np.ndarray]  # normalised pixels [N, 3, S, S] -> features


@dataclass(frozen=True)
class RuntimeChoice:
    use_onnx: bool
    speedup: float  # ONNX Runtime's throughput over torch's on the probe batch
    min_cosine: float
    checks: int = 1  # how many measurements this verdict has had


def export_image_tower(clip, size: int, path: Path) -> None:
    """`clip.encode_image` from normalised pixels [N, 3, S, S] to features [N, D], N dynamic."""
    import torch

    class Tower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.clip = clip

        def forward(self, pixels: torch.Tensor) -> torch.Tensor:
            return self.clip.encode_image(pixels)

    example = torch.zeros(2, 3, size, size)
    # The TorchScript exporter, as for the text tower (model/text_export.py): seconds where the
    # dynamo one takes minutes on a busy CPU, and it needs no onnxscript; the parity check
    # that follows holds either way. It reports its steps on stdout, the command's output.
    # Attention's fused fast path has no ONNX form: trace the plain one (same arithmetic).
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings(), \
                contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")  # its deprecation notice is not the user's business
            torch.onnx.export(Tower().eval(), (example,), str(path), input_names=["pixels"],
                              output_names=["features"], dynamic_axes={"pixels": {0: "batch"}},
                              dynamo=False)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


def onnx_session(path: Path, threads: int) -> Encode:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda pixels: session.run(None, {"pixels": np.ascontiguousarray(pixels)})[0]


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    norms = np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return float(((a * b).sum(axis=1) / norms).min())


def checked_export(fingerprint: str, export: Callable[[Path], None], torch_encode: Encode,
                   probe: np.ndarray, threads: int, preprocess: Preprocess) -> Path | None:
    """The ONNX export for `fingerprint`, made and checked against `torch_encode` on `probe`
    (normalised pixels) if there is none, with its pixel record; None when its check failed."""
    import onnxruntime

    path = export_path(fingerprint, "image", "onnx")
    check = read_check(path)
    if check is not None and Preprocess.read(preprocess_path(path)) != preprocess:
        # Made before queries used it: the graph stands, only its pixel record is added.
        write_json(preprocess_path(path), asdict(preprocess))
    if check is None:
        import torch

        started = time.monotonic()
        with tempfile.TemporaryDirectory() as tmp:
            candidate = Path(tmp) / path.name
            export(candidate)
            cosine = min_cosine(onnx_session(candidate, threads)(probe), torch_encode(probe))
            check = ExportCheck(min_cosine=cosine, samples=len(probe),
                                passed=cosine >= MIN_COSINE, runtime="onnxruntime",
                                versions={"torch": torch.__version__,
                                          "onnxruntime": onnxruntime.__version__},
                                created_at=datetime.datetime.now(datetime.UTC).isoformat())

            def write(target: Path) -> None:
                shutil.copyfile(candidate, target)
                write_json(preprocess_path(target), asdict(preprocess))

            write_export(path, write, check)
        log.info("exported the image tower to ONNX in %.1f s (min cosine %.6f vs torch)",
                 time.monotonic() - started, check.min_cosine)
    if not check.passed:
        log.info("image tower: the ONNX export disagrees with torch (min cosine %.6f < %g): "
                 "using torch", check.min_cosine, MIN_COSINE)
        return None
    return path


def measure(torch_encode: Encode, onnx_encode: Encode, probe: np.ndarray,
            clock: Callable[[], float] = time.perf_counter) -> RuntimeChoice:
    """Warm both, then time the probe batch through each, torch first."""
    timings, outputs = [], []
    for encode in (torch_encode, onnx_encode):
        encode(probe[:2])  # first calls build kernels
        started = clock()
        outputs.append(encode(probe))
        timings.append(clock() - started)
    speedup = timings[0] / max(timings[1], 1e-9)
    cosine = min_cosine(outputs[0], outputs[1])
    choice = RuntimeChoice(speedup >= MIN_SPEEDUP and cosine >= MIN_COSINE, speedup, cosine)
    log.info("image tower: ONNX Runtime is %.2fx torch here (min cosine %.6f): using %s",
             speedup, cosine, "ONNX Runtime" if choice.use_onnx else "torch")
    return choice


def pick_image_runtime(*, fingerprint: str, machine_key: str, export: Callable[[Path], None],
                       torch_encode: Encode, probe: np.ndarray, threads: int,
                       cache_file: Path, preprocess: Preprocess) -> Encode | None:
    """An ONNX Runtime encoder where it is measured faster and agrees with torch; else None."""
    if importlib.util.find_spec("onnxruntime") is None:
        return None
    try:
        path = checked_export(fingerprint, export, torch_encode, probe, threads, preprocess)
        if path is None:
            return None
        sessions: list[Encode] = []

        def measured() -> RuntimeChoice:
            sessions.append(onnx_session(path, threads))
            return measure(torch_encode, sessions[0], probe)

        choice = remembered_verdict(cache_file, machine_key, measured, RuntimeChoice,
                                    "image tower runtime", line=MIN_SPEEDUP,
                                    cosine_floor=MIN_COSINE)
        # A session costs seconds to open: none is opened for a remembered "use torch".
        if choice.use_onnx and not sessions:
            sessions.append(onnx_session(path, threads))
    except Exception as exc:  # an exporter or runtime bug must not stop indexing
        log.warning("image tower: ONNX Runtime unavailable (%s: %s): using torch",
                    type(exc).__name__, exc)
        log.debug("ONNX Runtime failure", exc_info=True)
        return None
    return sessions[0] if choice.use_onnx else None
