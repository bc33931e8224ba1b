"""Which runtime runs the image tower on a CPU: torch, or its ONNX export in ONNX Runtime (fp32
frames) or compiled by OpenVINO with bf16 arithmetic (bf16 frames).

Chosen like the precision (precision.py), by measurement on this machine. The export is made
once per weights fingerprint (`model/exports.py`) from the fp32 tower and checked against
torch on fixed frames (cosine >= MIN_COSINE on every frame); an export that fails its check is
never used. Then a batch goes through both, and the export is used where it is >=
MIN_SPEEDUP times torch at that precision and agrees with it; the verdict is remembered per
architecture, precision and machine, and measured again on the next runs while it is close to
the line (verdicts.py). With bf16 frames, OpenVINO's bf16 kernels stand against torch's bf16
weights (ONNX Runtime has no bf16 CPU kernels): the two are equally close to fp32 (cosine
0.99994 each on the AVX-512 BF16 EPYC of bench/RESULTS.md), so the same line serves. Nothing
is timed where no export can be used: CUDA, a 3d patch (its frames see their neighbours; the
export takes frames one by one), the runtime missing. Any failure to export, load or run
leaves torch in place, said once in the log.
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
# The export only has to be no slower than torch: it gives torch's vectors (cosine >=
# MIN_COSINE; bf16's 1.3 in precision.py pays for changed vectors), and once its verdict
# settles an index run imports neither torch nor open_clip (index_runtime.py), which spares
# ~4 s of every run's start-up and ~1 GB of memory (bench/RESULTS.md). Timing noise is what a
# verdict near the line is measured again for (verdicts.py: within 1.5x, three times at most).
# On the AVX2 EPYC ONNX Runtime measured 1.18-1.54x torch fp32; on the AVX-512 BF16 EPYC
# OpenVINO bf16 1.10x torch bf16, which the earlier line of 1.15 turned down.
MIN_SPEEDUP = 1.0
# Frames per encoder call on a CPU, in torch and the export's runtimes alike.
CPU_FRAME_BATCH = 32
# One batch as the indexer encodes it: a runtime's lead depends on the batch size (OpenVINO
# bf16 measured 1.24x torch bf16 at 32 frames, 1.03x at 16, 0.96x at 64).
PROBE_FRAMES = CPU_FRAME_BATCH
CHOICES_FILE = "image_runtime.json"

Encode = Callable[[np.ndarray], np.ndarray]  # normalised pixels [N, 3, S, S] -> features


@dataclass(frozen=True)
class RuntimeChoice:
    use_onnx: bool  # encode with the export (in ONNX Runtime, or OpenVINO for bf16 frames)
    speedup: float  # the export's throughput over torch's on the probe batch
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


def openvino_cache(graph: Path) -> Path:
    return graph.parent / "openvino-compiled"


# Where compiles from read_model's result kept their blobs (before the path compile): keyed by
# the model's hash, which a path compile never computes, so ~350 MB a thread count lies unread.
_UNREAD_CACHE = "openvino-cache"


def openvino_bf16(graph: Path, threads: int) -> Encode:
    """The ONNX graph compiled by OpenVINO for the CPU with bf16 arithmetic; the compiled
    model is cached beside the graph, so the next process loads it in a fraction of the time."""
    import openvino

    shutil.rmtree(graph.parent / _UNREAD_CACHE, ignore_errors=True)
    core = openvino.Core()
    core.set_property({"CACHE_DIR": str(openvino_cache(graph))})
    # Compiled from the path, not from read_model's result: a cache hit then skips reading
    # and hashing the whole graph (1.9 -> 0.2 s for ViT-B/32). The key is the path, so a new
    # graph at this path clears the cache (checked_export).
    compiled = core.compile_model(str(graph), "CPU", {
        "INFERENCE_PRECISION_HINT": "bf16", "INFERENCE_NUM_THREADS": threads,
        "PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()
    return lambda pixels: np.array(request.infer({0: pixels})[0], dtype=np.float32, copy=True)


# The export's runtime for frames of each precision, by the name verdicts and logs use.
RUNTIMES: dict[str, Callable[[Path, int], Encode]] = {"fp32": onnx_session,
                                                        "bf16": openvino_bf16}
RUNTIME_NAMES = {"fp32": "onnxruntime", "bf16": "openvino-bf16"}
MODULES = {"fp32": "onnxruntime", "bf16": "openvino"}


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
        shutil.rmtree(openvino_cache(path), ignore_errors=True)
        log.info("exported the image tower to ONNX in %.1f s (min cosine %.6f vs torch)",
                 time.monotonic() - started, check.min_cosine)
    if not check.passed:
        log.info("image tower: the ONNX export disagrees with torch (min cosine %.6f < %g): "
                 "using torch", check.min_cosine, MIN_COSINE)
        return None
    return path


def measure(torch_encode: Encode, export_encode: Encode, probe: np.ndarray,
            clock: Callable[[], float] = time.perf_counter, runtime: str = "onnxruntime"
            ) -> RuntimeChoice:
    """Warm both, then time the probe batch through each, torch first."""
    timings, outputs = [], []
    for encode in (torch_encode, export_encode):
        encode(probe[:2])  # first calls build kernels
        started = clock()
        outputs.append(encode(probe))
        timings.append(clock() - started)
    speedup = timings[0] / max(timings[1], 1e-9)
    cosine = min_cosine(outputs[0], outputs[1])
    choice = RuntimeChoice(speedup >= MIN_SPEEDUP and cosine >= MIN_COSINE, speedup, cosine)
    log.info("image tower: %s is %.2fx torch here (min cosine %.6f): using %s", runtime,
             speedup, cosine, runtime if choice.use_onnx else "torch")
    return choice


def pick_image_runtime(*, fingerprint: str, machine_key: str, export: Callable[[Path], None],
                       torch_encode: Encode, probe: np.ndarray, threads: int,
                       cache_file: Path, preprocess: Preprocess, precision: str = "fp32"
                       ) -> Encode | None:
    """The export's encoder for frames of `precision` ("fp32": ONNX Runtime, "bf16": OpenVINO
    bf16) where it is measured faster than `torch_encode` and agrees with it; else None. A bf16
    run uses an export already made (it is made from the fp32 tower, before the tower turns
    bf16: `checked_export` then)."""
    if importlib.util.find_spec(MODULES[precision]) is None:
        return None
    try:
        if precision == "fp32":
            path = checked_export(fingerprint, export, torch_encode, probe, threads, preprocess)
        else:
            path = export_path(fingerprint, "image", "onnx")
            check = read_check(path)
            path = path if check is not None and check.passed else None
        if path is None:
            return None
        opened: list[Encode] = []
        name = RUNTIME_NAMES[precision]

        def measured() -> RuntimeChoice:
            opened.append(RUNTIMES[precision](path, threads))
            return measure(torch_encode, opened[0], probe, runtime=name)

        choice = remembered_verdict(cache_file, machine_key, measured, RuntimeChoice,
                                    f"image tower runtime ({name})", line=MIN_SPEEDUP,
                                    cosine_floor=MIN_COSINE)
        # A session costs seconds to open: none is opened for a remembered "use torch".
        if choice.use_onnx and not opened:
            opened.append(RUNTIMES[precision](path, threads))
    except Exception as exc:  # an exporter or runtime bug must not stop indexing
        log.warning("image tower: %s unavailable (%s: %s): using torch", MODULES[precision],
                    type(exc).__name__, exc)
        log.debug("export runtime failure", exc_info=True)
        return None
    return opened[0] if choice.use_onnx else None
