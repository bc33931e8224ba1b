"""Fine-tune a CLIP4Clip model on validated labels: optimiser groups, schedule, loop, save.

The recipe is the paper's (docs CLIP4CLIP.md): AdamW with weight decay 0.2 except on biases,
norms and the temperature; new header weights at 1e-4, CLIP's own at 1e-7; 10% linear warm-up
then cosine decay; the 2D patch embedding frozen; up to 12 frames per clip at 1 fps; captions
cut to 32 tokens. The held-out split is scored before training and after every epoch; the best
epoch (the untouched start included) is what gets saved.

One change from the paper's loss: a user's labels repeat themselves ("our dog Max" on many
clips, several captions on one clip), so pairs in a batch that share a clip or a caption are all
positives of each other (a soft target) instead of false negatives. With distinct pairs this is
exactly the symmetric InfoNCE of the paper.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from vidsearch.config import models_dir
from vidsearch.errors import CannotRunError, UsageError
from vidsearch.metrics import BothWays
from vidsearch.model.cards import (CARD_FILENAME, HEADER_NAMES, PATCHES, USER_WEIGHTS_FILENAME,
                                   list_cards)
from vidsearch.model.clip4clip import CLIP4Clip
from vidsearch.train import checkpoint
from vidsearch.train.data import (SAMPLE_FPS, FramePlan, SpanFrames, frame_cache, load_span_frames,
                                  vector_cache)
from vidsearch.train.encode import clips_per_batch, encode_clip_frames, inputs_for
from vidsearch.train.evaluate import EvalSet, build_eval_set, evaluate
from vidsearch.train.labels import Labels, fingerprint_labels

log = logging.getLogger(__name__)

MAX_LOGIT_SCALE = math.log(100)  # CLIP's cap on its learned temperature
CPU_BATCH = 32
CUDA_BATCH = 128  # the paper's; halved on out-of-memory until it fits
FROZEN_BATCH = 256
_ESTIMATE_AFTER_STEPS = 3


@dataclass
class FinetuneSettings:
    """What one fine-tune does; recorded in the model card and reused by --resume."""

    base: str
    name: str
    labels: str
    val: str | None = None  # a separate validation labels file
    val_fraction: float = 0.1  # else this share of the clips, whole videos at a time
    header: str | None = None  # None: the base model's
    patch: str | None = None
    epochs: int = 5
    batch_size: int | None = None  # None: what suits the device
    lr: float = 1e-4
    clip_lr: float = 1e-7
    weight_decay: float = 0.2
    warmup: float = 0.1
    max_words: int = 32
    freeze_backbone: bool = False
    seed: int = 0
    device: str = "auto"

    def validate(self) -> None:
        checks = [
            (self.epochs >= 1, f"--epochs {self.epochs} must be at least 1"),
            (self.batch_size is None or self.batch_size >= 2,
             f"--batch-size {self.batch_size} must be at least 2 (the loss contrasts pairs)"),
            (self.lr > 0 and math.isfinite(self.lr), f"--lr {self.lr:g} must be positive"),
            (self.clip_lr >= 0 and math.isfinite(self.clip_lr),
             f"--clip-lr {self.clip_lr:g} must be 0 or more"),
            (0 <= self.val_fraction < 1, f"--val-fraction {self.val_fraction:g} must be in [0, 1)"),
            (self.weight_decay >= 0, "weight decay must be 0 or more"),
            (0 <= self.warmup < 1, "warm-up must be a fraction below 1"),
            (self.max_words >= 3, "captions need at least 3 tokens"),
            (self.header is None or self.header in HEADER_NAMES,
             f"unknown header {self.header!r}; use one of {', '.join(HEADER_NAMES)}"),
            (self.patch is None or self.patch in PATCHES,
             f"unknown patch {self.patch!r}; use one of {', '.join(PATCHES)}"),
        ]
        for ok, message in checks:
            if not ok:
                raise UsageError(message, "see `vidsearch finetune --help`")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FinetuneSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


@dataclass
class EpochRecord:
    epoch: int
    loss: float
    seconds: float
    metrics: dict[str, Any] | None = None


@dataclass
class FinetuneResult:
    name: str
    folder: Path
    saved: bool
    interrupted: bool
    epochs_done: int
    best_epoch: int
    before: BothWays | None
    after: BothWays | None
    history: list[EpochRecord]
    device: str
    seconds: float


class TrainProgress(Protocol):
    """What training reports; the CLI draws it, tests may record it."""

    def stage(self, description: str, total: int | None) -> None: ...
    def advance(self, count: int = 1, status: str = "") -> None: ...
    def note(self, text: str) -> None: ...


class SilentProgress:
    def stage(self, description: str, total: int | None) -> None:
        pass

    def advance(self, count: int = 1, status: str = "") -> None:
        pass

    def note(self, text: str) -> None:
        log.info("%s", text)


# --- the recipe's pieces ----------------------------------------------------------------


def prepare_module(base: CLIP4Clip, header: str, patch: str, shortlist: str) -> CLIP4Clip:
    """The base module with the requested header and patch (new parts freshly initialised)."""
    if (header, patch) == (base.header_name, base.patch):
        return base
    if base.patch == "3d" and patch == "2d":
        raise UsageError("a 3d-patch model cannot become 2d again",
                         "fine-tune it with --patch 3d, or start from a 2d model")
    # An inflated backbone must not be inflated twice: build as 2d, then say what it is.
    module = CLIP4Clip(base.clip, embed_dim=base.embed_dim, header=header,
                       patch="2d" if base.patch == "3d" else patch, shortlist_header=shortlist)
    module.patch = patch
    if type(module.header) is type(base.header):
        module.header.load_state_dict(base.header.state_dict())  # keep what the base learnt
    if base.tight is not None and module.tight is not None:
        module.tight.load_state_dict(base.tight.state_dict())
    return module


def freeze(module: CLIP4Clip, backbone: bool) -> None:
    """The 2D patch embedding never trains (the paper's choice); with `backbone`, no CLIP
    weight does. A 3D patch is new and trains with the backbone."""
    for parameter in module.clip.parameters():
        parameter.requires_grad_(not backbone)
    conv = getattr(getattr(module.clip, "visual", None), "conv1", None)
    if isinstance(conv, torch.nn.Conv2d):
        for parameter in conv.parameters():
            parameter.requires_grad_(False)


def build_param_groups(module: CLIP4Clip, lr: float, clip_lr: float, weight_decay: float
                       ) -> list[dict[str, Any]]:
    """Four groups: (header | CLIP) x (decayed | not). No decay on biases, norms, scalars."""
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, parameter in module.named_parameters():
        if not parameter.requires_grad:
            continue
        is_clip = name.startswith("clip.")
        decays = not (parameter.ndim < 2 or name.endswith("bias") or ".ln_" in name
                      or "norm" in name.lower() or "logit_scale" in name)
        groups.setdefault((is_clip, decays), []).append(parameter)
    out = []
    for (is_clip, decays), parameters in sorted(groups.items()):
        rate = clip_lr if is_clip else lr
        out.append({"params": parameters, "lr": rate, "initial_lr": rate,
                    "weight_decay": weight_decay if decays else 0.0,
                    "name": f"{'clip' if is_clip else 'header'}{'' if decays else '-no-decay'}"})
    return out


def schedule(progress: float, warmup: float) -> float:
    """Learning-rate factor at `progress` (0..1 of all training): linear warm-up, cosine down."""
    progress = min(max(progress, 0.0), 1.0)
    if warmup > 0 and progress < warmup:
        return progress / warmup
    rest = (progress - warmup) / max(1e-12, 1 - warmup)
    return 0.5 * (1 + math.cos(math.pi * rest))


def contrastive_loss(logits: torch.Tensor, clip_ids: torch.Tensor,
                     caption_ids: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE over captions x clips logits, with every pair that shares a clip or a
    caption counted as a positive (soft targets); the paper's loss when pairs are distinct."""
    positive = ((clip_ids[:, None] == clip_ids[None, :])
                | (caption_ids[:, None] == caption_ids[None, :])).float()
    targets = positive / positive.sum(dim=1, keepdim=True)
    logits = logits.float()
    to_video = -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
    to_text = -(targets.t() * F.log_softmax(logits.t(), dim=1)).sum(dim=1).mean()
    return (to_video + to_text) / 2


def default_batch_size(device: torch.device, frozen: bool, pairs: int) -> int:
    size = FROZEN_BATCH if frozen else (CUDA_BATCH if device.type == "cuda" else CPU_BATCH)
    return max(2, min(size, pairs))


def pick_training_autocast(device: torch.device) -> tuple[torch.dtype | None, bool]:
    """(autocast dtype, needs a grad scaler): bf16 where the GPU has it, else fp16 + scaler."""
    if device.type != "cuda":
        return None, False
    if torch.cuda.is_bf16_supported():
        return torch.bfloat16, False
    return torch.float16, True


def score_key(metrics: BothWays | None, epoch: int) -> list[float]:
    """Higher is better: text-to-video R@1, then R@5, R@10, then a lower mean rank."""
    if metrics is None:
        return [float(epoch)]  # no validation: the latest epoch is the best known
    t2v = metrics.t2v
    return [t2v.r1, t2v.r5, t2v.r10, -t2v.mean_rank]


# --- one run -------------------------------------------------------------------------------


@dataclass
class _Data:
    train: Labels
    val: Labels | None
    train_frames: SpanFrames
    val_frames: SpanFrames | None
    pairs: list[tuple[int, str]]
    caption_ids: dict[str, int]
    fingerprint: str
    train_features: list[np.ndarray] | None = None
    val_features: list[np.ndarray] | None = None


@dataclass
class _Counters:
    epochs_done: int = 0
    pairs_done: int = 0
    best_epoch: int = 0
    best_score: list[float] = field(default_factory=list)
    history: list[EpochRecord] = field(default_factory=list)
    before: BothWays | None = None
    best: BothWays | None = None
    saved: bool = False


class _Run:
    def __init__(self, settings: FinetuneSettings, progress: TrainProgress) -> None:
        from vidsearch.model.factory import load_model

        self.settings = settings
        self.progress = progress
        self.folder = models_dir() / settings.name
        model = load_model(settings.base, device=settings.device)
        self.base_card = model.card
        self.base_fingerprint = model.fingerprint
        self.device = torch.device(model.device)
        torch.manual_seed(settings.seed)
        header = settings.header or model.card.header
        patch = settings.patch or model.card.patch
        shortlist = model.card.index_header
        self.module = prepare_module(model.module, header, patch, shortlist).to(self.device)
        self.module.train()
        if settings.freeze_backbone and not self._has_header_weights():
            raise UsageError(f"--freeze-backbone with header {header} leaves nothing to train",
                             "pick --header seqTransf, seqLSTM or tightTransf, or drop "
                             "--freeze-backbone")
        freeze(self.module, settings.freeze_backbone)
        dtype, needs_scaler = pick_training_autocast(self.device)
        self.inputs = inputs_for(model, autocast_dtype=dtype)
        self.scaler = torch.amp.GradScaler("cuda") if needs_scaler else None
        self.plan = FramePlan(size=model.image_size, fps=SAMPLE_FPS,
                              max_frames=model.card.frames_per_clip)
        self.per_batch = clips_per_batch(self.device, self.plan.max_frames)
        self.counters = _Counters()
        self.batch_size = 0
        self.estimated = False  # the CPU time estimate is given once
        self.optimizer: torch.optim.Optimizer | None = None
        self.data: _Data | None = None
        self.initial_state = checkpoint.trainable_state(self.module)
        self.best_state: dict[str, torch.Tensor] | None = None  # of best_epoch >= 1
        # Frozen backbone only: every training caption encoded once.
        self.text_features: torch.Tensor | None = None
        self.token_features: torch.Tensor | None = None
        self.token_mask: torch.Tensor | None = None

    def _has_header_weights(self) -> bool:
        modules = [self.module.header] + ([self.module.tight] if self.module.tight else [])
        return any(parameter.numel() for m in modules for parameter in m.parameters())

    # data --------------------------------------------------------------------------------

    def load_data(self, train: Labels, val: Labels | None) -> None:
        cache = frame_cache()
        videos = len(train.videos) + (len(val.videos) if val else 0)
        self.progress.stage("decoding labelled spans", videos)

        def tick(_video: Path) -> None:
            self.progress.advance()

        train_frames = load_span_frames(train.clips, self.plan, cache, on_video=tick)
        val_frames = load_span_frames(val.clips, self.plan, cache, on_video=tick) if val else None
        prints = dict(train_frames.fingerprints)
        if val_frames is not None:
            prints.update(val_frames.fingerprints)
        fingerprint = fingerprint_labels(train, prints)
        if val is not None:
            fingerprint += "-" + fingerprint_labels(val, prints)
        pairs = train.pairs
        caption_ids = {caption: i for i, caption in enumerate(dict.fromkeys(c for _, c in pairs))}
        self.data = _Data(train, val, train_frames, val_frames, pairs, caption_ids, fingerprint)
        if self.settings.freeze_backbone:
            self._encode_frozen_frames()

    def _encode_frozen_frames(self) -> None:
        data = self.data
        cache = vector_cache(f"{self.base_fingerprint}-{self.module.patch}")
        data.train_features = self._cached_features(data.train_frames, cache)
        if data.val_frames is not None:
            data.val_features = self._cached_features(data.val_frames, cache)

    def _cached_features(self, frames: SpanFrames, cache) -> list[np.ndarray]:
        features: list[np.ndarray | None] = [cache.load(key) for key in frames.keys]
        missing = [i for i, f in enumerate(features)
                   if f is None or len(f) != len(frames.frames[i])]
        self.progress.stage("encoding frames (frozen backbone)", len(missing))
        for start in range(0, len(missing), self.per_batch):
            part = missing[start:start + self.per_batch]
            encoded = encode_clip_frames(self.module, self.inputs,
                                         [frames.frames[i] for i in part], self.per_batch)
            for index, array in zip(part, encoded):
                features[index] = array
                cache.save(frames.keys[index], array)
            self.progress.advance(len(part))
        self.module.train()
        return [f for f in features if f is not None]

    def eval_set(self) -> EvalSet | None:
        data = self.data
        if data.val is None:
            return None
        return build_eval_set(data.val, data.val_frames.frames, data.val_features)

    # training ----------------------------------------------------------------------------

    def build_optimizer(self) -> None:
        s = self.settings
        groups = build_param_groups(self.module, s.lr, s.clip_lr, s.weight_decay)
        self.optimizer = torch.optim.AdamW(groups, betas=(0.9, 0.98), eps=1e-6)
        self.batch_size = s.batch_size or default_batch_size(
            self.device, s.freeze_backbone, len(self.data.pairs))
        if self.settings.freeze_backbone:
            self._text_table()

    def _text_table(self) -> None:
        """Frozen text tower: each distinct training caption is encoded once."""
        captions = list(self.data.caption_ids)
        # no_grad, not inference_mode: these tensors take part in every training step.
        with torch.no_grad(), self.inputs.autocast():
            tokens = self.inputs.tokens(captions, self.settings.max_words)
            self.text_features = self.module.encode_text(tokens).float().clone()
            if self.module.tight is not None:
                token_features, mask = self.module.encode_text_tokens(tokens)
                self.token_features = token_features.float().clone()
                self.token_mask = mask.clone()

    def run_epoch(self, epoch: int) -> float:
        data = self.data
        order = np.random.default_rng([self.settings.seed, epoch]).permutation(len(data.pairs))
        steps = math.ceil(len(order) / self.batch_size)
        self.progress.stage(f"epoch {epoch}/{self.settings.epochs}", len(order))
        started = time.monotonic()
        losses: list[float] = []
        position = 0
        while position < len(order):
            batch = order[position:position + self.batch_size]
            try:
                loss = self.train_step(batch)
            except torch.cuda.OutOfMemoryError:
                self._shrink_batch()
                continue
            position += len(batch)
            losses.append(loss)
            elapsed = time.monotonic() - started
            rate = position / max(elapsed, 1e-9)
            self.progress.advance(len(batch), f"loss {loss:.3f}, {rate:.1f} pairs/s")
            if not self.estimated and len(losses) == min(_ESTIMATE_AFTER_STEPS, steps):
                self.estimated = True
                self._estimate(elapsed / len(losses) * steps)
        return float(np.mean(losses)) if losses else float("nan")

    def _shrink_batch(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        torch.cuda.empty_cache()
        if self.batch_size <= 2:
            raise CannotRunError("out of GPU memory even with 2 clips per batch",
                                 "use --freeze-backbone, or a smaller model")
        self.batch_size //= 2
        self.progress.note(f"out of GPU memory; batch size now {self.batch_size}")

    def _estimate(self, seconds: float) -> None:
        if self.device.type != "cpu":
            return
        epochs = self.settings.epochs
        faster = "" if self.settings.freeze_backbone else ", and so is --freeze-backbone"
        self.progress.note(f"training on the CPU: one epoch takes about {_duration(seconds)} "
                           f"({epochs} epochs: {_duration(seconds * epochs)}); a CUDA GPU is "
                           f"much faster{faster}")

    def train_step(self, batch: np.ndarray) -> float:
        data = self.data
        total = self.settings.epochs * len(data.pairs)
        factor = schedule((self.counters.pairs_done + len(batch)) / total, self.settings.warmup)
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * factor
        clip_ids = [data.pairs[i][0] for i in batch]
        captions = [data.pairs[i][1] for i in batch]
        caption_ids = torch.tensor([data.caption_ids[c] for c in captions], device=self.device)
        clip_tensor = torch.tensor(clip_ids, device=self.device)
        self.optimizer.zero_grad(set_to_none=True)
        with self.inputs.autocast():
            all_logits = self._logits(clip_ids, captions, caption_ids)
        loss = sum(contrastive_loss(logits, clip_tensor, caption_ids) for logits in all_logits)
        if not torch.isfinite(loss):
            raise CannotRunError("the training loss is not finite",
                                 "lower --lr and --clip-lr, or use --device cpu")
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        with torch.no_grad():
            self.module.clip.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
        self.counters.pairs_done += len(batch)
        return float(loss.detach())

    def _logits(self, clip_ids: list[int], captions: list[str],
                caption_ids: torch.Tensor) -> list[torch.Tensor]:
        module = self.module
        if self.settings.freeze_backbone:
            features, mask = self.inputs.features([self.data.train_features[i] for i in clip_ids])
            text = self.text_features[caption_ids]
            out = [module.similarity(text, module.aggregate(features, mask))]
            if module.tight is not None:
                out.append(_cross_scores(module, self.token_features[caption_ids],
                                         self.token_mask[caption_ids], features, mask))
            return out
        pixels, mask = self.inputs.pixels([self.data.train_frames.frames[i] for i in clip_ids])
        tokens = self.inputs.tokens(captions, self.settings.max_words)
        features = module.encode_frames(pixels, mask)
        out = [module.similarity(module.encode_text(tokens), module.aggregate(features, mask))]
        if module.tight is not None:
            out.append(module.cross_logits(tokens, features, mask))
        return out

    def evaluate(self) -> BothWays | None:
        data = self.eval_set()
        if data is None:
            return None
        self.progress.stage("evaluating", None)
        return evaluate(self.module, self.inputs, data, self.per_batch)

    # saving ------------------------------------------------------------------------------

    def card_extra(self, finished: bool, interrupted: bool) -> dict[str, Any]:
        c = self.counters
        data = self.data
        record: dict[str, Any] = {
            **{k: v for k, v in asdict(self.settings).items() if v is not None},
            "base_fingerprint": self.base_fingerprint,
            "data_fingerprint": data.fingerprint,
            "train_clips": len(data.train.clips), "train_captions": len(data.pairs),
            "train_videos": len(data.train.videos),
            "val_clips": len(data.val.clips) if data.val else 0,
            "val_videos": len(data.val.videos) if data.val else 0,
            "batch_size": self.batch_size, "fps": SAMPLE_FPS,
            "frames_per_clip": self.plan.max_frames,
            "precision": str(self.inputs.autocast_dtype or "fp32").replace("torch.", ""),
            "epochs_done": c.epochs_done, "best_epoch": c.best_epoch,
            "finished": finished, "interrupted": interrupted,
        }
        extra: dict[str, Any] = {"finetune": record}
        if c.before is not None:
            extra["metrics_before"] = c.before.to_dict()
        if c.best is not None:
            extra["metrics_after"] = c.best.to_dict()
        if c.history:
            extra["history"] = _history_columns(c.history)
        return extra

    def write_model(self, finished: bool, interrupted: bool) -> None:
        base = self.base_card
        description = (f"{base.name} fine-tuned on {Path(self.settings.labels).name} "
                       f"({self.data.train.describe()})")
        card = checkpoint.finetuned_card(base, self.settings.name, self.module,
                                         self.card_extra(finished, interrupted), description)
        checkpoint.write_model(self.module, card, self.folder)
        self.counters.saved = True

    def resume_state(self) -> checkpoint.ResumeState:
        c = self.counters
        return checkpoint.ResumeState(
            settings=asdict(self.settings), data_fingerprint=self.data.fingerprint,
            epochs_done=c.epochs_done, pairs_done=c.pairs_done, batch_size=self.batch_size,
            best_epoch=c.best_epoch, best_score=c.best_score,
            history=[asdict(r) for r in c.history],
            before=c.before.to_dict() if c.before else None,
            grad_scale=float(self.scaler.get_scale()) if self.scaler else None)

    def restore(self, state: checkpoint.ResumeState, last: dict[str, torch.Tensor],
                best: dict[str, torch.Tensor] | None, optimizer_state: dict[str, Any]) -> None:
        if state.data_fingerprint != self.data.fingerprint:
            raise UsageError("the labels changed since the interrupted run",
                             "resume with the same labels, or start again with --overwrite")
        checkpoint.load_trainable(self.module, last)
        self.optimizer.load_state_dict(optimizer_state)
        self.batch_size = state.batch_size or self.batch_size
        c = self.counters
        c.epochs_done, c.pairs_done = state.epochs_done, state.pairs_done
        c.best_epoch, c.best_score = state.best_epoch, state.best_score
        c.history = [EpochRecord(**r) for r in state.history]
        c.before = BothWays.from_dict(state.before) if state.before else None
        best_metrics = next((r.metrics for r in c.history if r.epoch == c.best_epoch), None)
        c.best = BothWays.from_dict(best_metrics) if best_metrics else c.before
        self.best_state = best
        if self.scaler is not None and state.grad_scale:
            self.scaler.update(state.grad_scale)


def _cross_scores(module: CLIP4Clip, tokens: torch.Tensor, token_mask: torch.Tensor,
                  features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Tight scores of every (caption, clip) pair from precomputed token features -> [B, B]."""
    batch, clips = tokens.shape[0], features.shape[0]
    scores = module.tight(tokens.repeat_interleave(clips, dim=0),
                          token_mask.repeat_interleave(clips, dim=0),
                          features.repeat(batch, 1, 1), mask.repeat(batch, 1))
    return scores.reshape(batch, clips)


def _history_columns(history: list[EpochRecord]) -> dict[str, list[float]]:
    """Per-epoch numbers as one list per column: compact in a TOML card."""
    columns: dict[str, list[float]] = {"epoch": [r.epoch for r in history],
                                       "loss": [round(r.loss, 4) for r in history]}
    for way in ("t2v", "v2t"):
        if all(r.metrics for r in history):
            columns[f"{way}_r1"] = [r.metrics[way]["r1"] for r in history]
    return columns


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# --- the entry point -------------------------------------------------------------------------


def check_target(settings: FinetuneSettings, *, resume: bool, overwrite: bool) -> Path:
    """The model folder to write; refuses to clobber a model or shadow a builtin one."""
    # The same rule as model cards' names: they become folder names under models_dir().
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", settings.name):
        raise UsageError(f"'{settings.name}' is not a valid model name",
                         "use letters, digits, '.', '_' and '-' only")
    folder = models_dir() / settings.name
    builtin = [card for card in list_cards()
               if card.name == settings.name and card.folder != folder]
    if builtin:
        raise UsageError(f"'{settings.name}' is the name of a built-in model",
                         "pick another --name")
    if settings.name == settings.base and not resume:
        raise UsageError("--name must differ from --base", "pick another --name")
    if resume:
        if not checkpoint.has_resume(folder):
            raise UsageError(f"nothing to resume for '{settings.name}'",
                             "no interrupted fine-tune of that name has a finished epoch")
        return folder
    exists = (folder / CARD_FILENAME).exists() or checkpoint.has_resume(folder)
    if exists and not overwrite:
        raise UsageError(f"model '{settings.name}' already exists",
                         "pick another --name, --resume an interrupted run, or --overwrite")
    return folder


def clear_target(folder: Path) -> None:
    """Remove what an earlier fine-tune of this name left (only once the new one can start)."""
    for name in (CARD_FILENAME, USER_WEIGHTS_FILENAME):
        (folder / name).unlink(missing_ok=True)
    shutil.rmtree(checkpoint.resume_folder(folder), ignore_errors=True)


def resumed_settings(name: str, device: str) -> FinetuneSettings:
    """The settings of an interrupted run (only the device may change)."""
    state = checkpoint.read_resume_state(models_dir() / name)
    settings = FinetuneSettings.from_dict(state.settings)
    settings.device = device
    return settings


def finetune(settings: FinetuneSettings, train: Labels, val: Labels | None, *,
             progress: TrainProgress | None = None, resume: bool = False,
             overwrite: bool = False) -> FinetuneResult:
    """Train, keep the best epoch, save it as user model `settings.name`.

    Ctrl-C (KeyboardInterrupt) ends training cleanly: the best finished epoch is saved and the
    last finished one can be resumed. Raises VidsearchError subclasses for the user's problems.
    """
    settings.validate()
    started = time.monotonic()
    progress = progress or SilentProgress()
    folder = check_target(settings, resume=resume, overwrite=overwrite)
    run = _Run(settings, progress)
    run.load_data(train, val)
    run.build_optimizer()
    if not resume:
        clear_target(folder)
    c = run.counters
    interrupted = False
    try:
        if resume:
            run.restore(*checkpoint.load_resume(folder))
            progress.note(f"resuming after epoch {c.epochs_done} of {settings.epochs}")
        else:
            c.before = run.evaluate()
            c.best, c.best_score = c.before, score_key(c.before, 0)
        for epoch in range(c.epochs_done + 1, settings.epochs + 1):
            _train_one_epoch(run, epoch)
    except KeyboardInterrupt:
        interrupted = True
        log.info("interrupted after %d finished epochs", c.epochs_done)
    _finish(run, interrupted)
    return FinetuneResult(
        name=settings.name, folder=folder, saved=c.saved, interrupted=interrupted,
        epochs_done=c.epochs_done, best_epoch=c.best_epoch, before=c.before, after=c.best,
        history=c.history, device=run.device.type, seconds=time.monotonic() - started)


def _train_one_epoch(run: _Run, epoch: int) -> None:
    c = run.counters
    started = time.monotonic()
    loss = run.run_epoch(epoch)
    metrics = run.evaluate()
    c.history.append(EpochRecord(epoch, loss, time.monotonic() - started,
                                 metrics.to_dict() if metrics else None))
    c.epochs_done = epoch
    score = score_key(metrics, epoch)
    improved = score > c.best_score
    if improved:
        c.best_epoch, c.best_score, c.best = epoch, score, metrics
        run.best_state = checkpoint.trainable_state(run.module)
    checkpoint.save_resume(run.folder, checkpoint.trainable_state(run.module),
                           run.best_state if improved else None, run.optimizer,
                           run.resume_state())
    summary = f"epoch {epoch}: loss {loss:.3f}"
    if metrics is not None:
        summary += (f", text->video R@1 {metrics.t2v.r1:.3f}, "
                    f"video->text R@1 {metrics.v2t.r1:.3f}")
    run.progress.note(summary + (" (best so far)" if improved else ""))


def _finish(run: _Run, interrupted: bool) -> None:
    """Write the best finished epoch as the model; keep the resume state unless done."""
    c = run.counters
    if c.epochs_done == 0:
        return  # nothing finished: nothing to save
    # best_epoch 0: no epoch beat the starting point on the held-out labels, so save the start.
    best = run.initial_state if c.best_epoch == 0 else run.best_state
    checkpoint.load_trainable(run.module, best)
    run.write_model(finished=not interrupted, interrupted=interrupted)
    if not interrupted:
        checkpoint.clear_resume(run.folder)
