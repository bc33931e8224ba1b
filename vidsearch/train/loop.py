"""Fine-tune a CLIP4Clip model on validated labels: the run, its epochs, what is saved.

The recipe it applies (loss, schedule, parameter groups, freezing) is `recipe`'s, its numbers
`settings.DEFAULTS`. The held-out split is scored before training and after every epoch; the
best epoch (the untouched start included) is what gets saved.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidsearch.config import models_dir
from vidsearch.errors import CannotRunError, UsageError
from vidsearch.metrics import BothWays
from vidsearch.train import checkpoint
from vidsearch.train.data import (SAMPLE_FPS, FramePlan, SpanFrames, frame_cache, load_span_frames,
                                  vector_cache)
from vidsearch.train.encode import clips_per_batch, inputs_for
from vidsearch.train.evaluate import EvalSet, build_eval_set, evaluate, frame_vector_key
from vidsearch.train.frozen import TextTable, cached_features, cross_scores, encode_text_table
from vidsearch.train.labels import Labels, fingerprint_labels
from vidsearch.train.recipe import (MAX_LOGIT_SCALE, build_optimizer, contrastive_loss,
                                    default_batch_size, freeze, hard_negatives,
                                    pick_training_autocast, prepare_module, schedule, score_key)
from vidsearch.train.results import (Best, EpochRecord, EpochResult, FinetuneResult, Standing,
                                     history_columns)
from vidsearch.train.progress import SilentProgress, TrainProgress
from vidsearch.train.settings import FinetuneSettings, SettingError, advised
from vidsearch.train.target import check_target, clear_target

log = logging.getLogger(__name__)

_ESTIMATE_AFTER_STEPS = 3


# --- what a run holds ------------------------------------------------------------------------


@dataclass
class _Data:
    train: Labels
    val: Labels | None
    train_frames: SpanFrames
    val_frames: SpanFrames | None
    pairs: list[tuple[int, str]]
    caption_ids: dict[str, int]
    fingerprint: str
    wrong_clips: dict[str, list[int]]  # caption -> training clips marked wrong answers to it
    train_features: list[np.ndarray] | None = None  # frozen backbone only
    val_features: list[np.ndarray] | None = None


class _Run:
    """A loaded model, its data and optimiser, ready to train epochs."""

    def __init__(self, settings: FinetuneSettings, progress: TrainProgress, train: Labels,
                 val: Labels | None) -> None:
        from vidsearch.model.factory import load_model

        self.settings = settings
        self.progress = progress
        self.folder = models_dir() / settings.name
        model = load_model(settings.base, device=settings.device, offline=settings.offline)
        self.base_card = model.card
        self.base_fingerprint = model.fingerprint
        self.device = torch.device(model.device)
        torch.manual_seed(settings.seed)
        header = settings.header or model.card.header
        patch = settings.patch or model.card.patch
        shortlist = model.card.index_header
        self.module = prepare_module(model.module, header, patch, shortlist).to(self.device)
        # A new header or patch makes a module that is not the base: "before" must still score
        # the base itself, and a run no epoch of which beats it saves the base's own tensors.
        # The base shares the CLIP tower, so it is scored before any step and then let go.
        self.starts_as_base = self.module is model.module
        self.base_module: Any = None if self.starts_as_base else model.module
        self.module.train()
        if settings.freeze_backbone and not self._has_header_weights():
            raise SettingError("freeze_backbone", f"with header {header} leaves nothing to train",
                               "pick a header with weights of its own (seqTransf, seqLSTM or "
                               "tightTransf), or train the backbone too")
        freeze(self.module, settings.freeze_backbone)
        dtype, needs_scaler = pick_training_autocast(self.device)
        self.inputs = inputs_for(model, autocast_dtype=dtype)
        self.scaler = torch.amp.GradScaler("cuda") if needs_scaler else None
        self.plan = FramePlan(size=model.image_size, fps=SAMPLE_FPS,
                              max_frames=model.card.frames_per_clip)
        self.per_batch = clips_per_batch(self.device, self.plan.max_frames)
        self.estimated = False  # the CPU time estimate is given once
        self.initial_state = checkpoint.trainable_state(self.module)
        self.data = self._load_data(train, val)
        self.optimizer = build_optimizer(self.module, settings.lr, settings.clip_lr,
                                         settings.weight_decay)
        self.batch_size = settings.batch_size or default_batch_size(
            self.device, settings.freeze_backbone, len(self.data.pairs))
        # Frozen backbone only: every training caption encoded once.
        self.text_table: TextTable | None = None
        if settings.freeze_backbone:
            self.text_table = encode_text_table(self.module, self.inputs,
                                                list(self.data.caption_ids), settings.max_words)

    def _has_header_weights(self) -> bool:
        modules = [self.module.header] + ([self.module.tight] if self.module.tight else [])
        return any(parameter.numel() for m in modules for parameter in m.parameters())

    # data --------------------------------------------------------------------------------

    def _load_data(self, train: Labels, val: Labels | None) -> _Data:
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
        wrong_clips: dict[str, list[int]] = {}
        for clip_index, caption in train.negative_pairs:
            wrong_clips.setdefault(caption, []).append(clip_index)
        data = _Data(train, val, train_frames, val_frames, pairs, caption_ids, fingerprint,
                     wrong_clips)
        if self.settings.freeze_backbone:
            vectors = vector_cache(frame_vector_key(self.base_fingerprint, self.module.patch,
                                                    self.inputs.autocast_dtype))

            def encoded(frames: SpanFrames) -> list[np.ndarray]:
                return cached_features(self.module, self.inputs, frames, vectors,
                                       self.per_batch, self.progress)

            data.train_features = encoded(train_frames)
            if val_frames is not None:
                data.val_features = encoded(val_frames)
        return data

    def eval_set(self) -> EvalSet | None:
        data = self.data
        if data.val is None:
            return None
        return build_eval_set(data.val, data.val_frames.frames, data.val_features)

    # training ----------------------------------------------------------------------------

    def run_epoch(self, epoch: int, pairs_done: int) -> float:
        """Train one pass over the pairs (`pairs_done` before it); the mean loss."""
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
                loss = self.train_step(batch, pairs_done + position)
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
                self._estimate(elapsed / len(losses) * steps, self.settings.epochs - epoch + 1)
        return float(np.mean(losses)) if losses else float("nan")

    def _shrink_batch(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        torch.cuda.empty_cache()
        if self.batch_size <= 2:
            raise advised(CannotRunError("out of GPU memory even with 2 clips per batch",
                                         "freeze the backbone, or use a smaller model"),
                          "out_of_memory")
        self.batch_size //= 2
        self.progress.note(f"out of GPU memory; batch size now {self.batch_size}")

    def _estimate(self, seconds: float, epochs_left: int) -> None:
        # A resumed run has fewer epochs ahead than it was asked for: those are what it costs.
        if self.device.type == "cpu":
            self.progress.estimate(seconds, epochs_left, self.settings.freeze_backbone)

    def train_step(self, batch: np.ndarray, pairs_done: int) -> float:
        """One optimiser step on `batch` (pair indices), `pairs_done` pairs into training."""
        data = self.data
        total = self.settings.epochs * len(data.pairs)
        factor = schedule((pairs_done + len(batch)) / total, self.settings.warmup)
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * factor
        clip_ids = [data.pairs[i][0] for i in batch]
        captions = [data.pairs[i][1] for i in batch]
        caption_ids = torch.tensor([data.caption_ids[c] for c in captions], device=self.device)
        clip_tensor = torch.tensor(clip_ids, device=self.device)
        negatives = hard_negatives(clip_ids, captions, data.wrong_clips,
                                   lambda clip: data.train.clips[clip].captions, len(batch))
        self.optimizer.zero_grad(set_to_none=True)
        with self.inputs.autocast():
            all_logits = self._logits(clip_ids + negatives, captions, caption_ids)
        loss = sum(contrastive_loss(logits, clip_tensor, caption_ids) for logits in all_logits)
        if not torch.isfinite(loss):
            raise advised(CannotRunError("the training loss is not finite",
                                         "lower both learning rates, or train on the CPU"),
                          "loss_not_finite")
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        with torch.no_grad():
            self.module.clip.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
        return float(loss.detach())

    def _logits(self, clip_ids: list[int], captions: list[str],
                caption_ids: torch.Tensor) -> list[torch.Tensor]:
        """Captions x clips logits; `clip_ids` may run past the captions (hard negatives)."""
        module = self.module
        table = self.text_table
        if table is not None:
            features, mask = self.inputs.features([self.data.train_features[i] for i in clip_ids])
            text = table.features[caption_ids]
            out = [module.similarity(text, module.aggregate(features, mask))]
            if module.tight is not None:
                out.append(cross_scores(module, table.token_features[caption_ids],
                                         table.token_mask[caption_ids], features, mask))
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

    def evaluate_base(self) -> BothWays | None:
        """The base model's metrics, exactly as `vidsearch eval` would give them."""
        data = self.eval_set()
        if data is None or self.base_module is None:
            return self.evaluate()
        if self.base_module.patch != self.module.patch:
            data.features = None  # the cached features are of the new patch's backbone
        self.progress.stage("evaluating the base model", None)
        metrics = evaluate(self.base_module, self.inputs, data, self.per_batch)
        self.module.train()  # shares the CLIP tower with the base, which scoring left in eval
        return metrics

    # saving ------------------------------------------------------------------------------

    def card_extra(self, standing: Standing, finished: bool, interrupted: bool
                   ) -> dict[str, Any]:
        data = self.data
        record: dict[str, Any] = {
            **{k: v for k, v in asdict(self.settings).items() if v is not None},
            "base_fingerprint": self.base_fingerprint,
            "data_fingerprint": data.fingerprint,
            "train_clips": len(data.train.clips), "train_captions": len(data.pairs),
            "train_wrong_answers": len(data.train.negative_pairs),
            "train_videos": len(data.train.videos),
            "val_clips": len(data.val.clips) if data.val else 0,
            "val_videos": len(data.val.videos) if data.val else 0,
            "batch_size": self.batch_size, "fps": SAMPLE_FPS,
            "frames_per_clip": self.plan.max_frames,
            "precision": str(self.inputs.autocast_dtype or "fp32").replace("torch.", ""),
            "epochs_done": standing.epochs_done, "best_epoch": standing.best.epoch,
            "finished": finished, "interrupted": interrupted,
        }
        extra: dict[str, Any] = {"finetune": record}
        if standing.before is not None:
            extra["metrics_before"] = standing.before.to_dict()
        if standing.best.metrics is not None:
            extra["metrics_after"] = standing.best.metrics.to_dict()
        if standing.history:
            extra["history"] = history_columns(standing.history)
        return extra

    def write_model(self, standing: Standing, finished: bool, interrupted: bool) -> None:
        base = self.base_card
        files = [Path(self.settings.labels).name]
        if self.settings.feedback:
            files.append(Path(self.settings.feedback).name)
        labels = f"{' and '.join(files)} ({self.data.train.describe()})"
        module = self.module
        if standing.best.epoch == 0:
            description = f"a copy of {base.name}: no epoch of a fine-tune on {labels} beat it"
            if self.starts_as_base:
                checkpoint.load_trainable(module, standing.best.state)
            else:
                module = self.reload_base()
        else:
            description = f"{base.name} fine-tuned on {labels}"
            checkpoint.load_trainable(module, standing.best.state)
        extra = self.card_extra(standing, finished, interrupted)
        card = checkpoint.finetuned_card(base, self.settings.name, module, extra, description)
        checkpoint.write_model(module, card, self.folder)

    def reload_base(self) -> Any:
        """The base model's module as its weights file has it (training changed the shared
        CLIP tower in place, so the one in memory is no longer the base)."""
        from vidsearch.model.factory import load_model

        return load_model(self.settings.base, device="cpu", offline=self.settings.offline).module

    def resume_state(self, standing: Standing) -> checkpoint.ResumeState:
        best = standing.best
        return checkpoint.ResumeState(
            settings=asdict(self.settings), data_fingerprint=self.data.fingerprint,
            epochs_done=standing.epochs_done, pairs_done=standing.pairs_done,
            batch_size=self.batch_size, best_epoch=best.epoch, best_score=best.score,
            history=[asdict(r) for r in standing.history],
            before=standing.before.to_dict() if standing.before else None,
            grad_scale=float(self.scaler.get_scale()) if self.scaler else None)

    def restore(self, state: checkpoint.ResumeState, last: dict[str, torch.Tensor],
                best: dict[str, torch.Tensor] | None, optimizer_state: dict[str, Any]
                ) -> Standing:
        """Put back an interrupted run's tensors and optimiser; where it stood."""
        if state.data_fingerprint != self.data.fingerprint:
            raise advised(UsageError("the labels changed since the interrupted run",
                                     "resume with the same labels, or start a fresh run that "
                                     "replaces the model"), "labels_changed")
        checkpoint.load_trainable(self.module, last)
        self.optimizer.load_state_dict(optimizer_state)
        self.batch_size = state.batch_size or self.batch_size
        history = [EpochRecord(**r) for r in state.history]
        before = BothWays.from_dict(state.before) if state.before else None
        best_metrics = next((r.metrics for r in history if r.epoch == state.best_epoch), None)
        if self.scaler is not None and state.grad_scale:
            self.scaler.update(state.grad_scale)
        # best_epoch 0: no epoch beat the start, whose tensors are not in the resume state.
        best_state = self.initial_state if state.best_epoch == 0 else best
        return Standing(before=before,
                        best=Best(state.best_epoch, state.best_score,
                                  BothWays.from_dict(best_metrics) if best_metrics else before,
                                  best_state),
                        history=history, pairs_done=state.pairs_done)


# --- the entry point -------------------------------------------------------------------------


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
    run = _Run(settings, progress, train, val)
    if not resume:
        clear_target(folder)
    standing: Standing | None = None
    interrupted = False
    try:
        if resume:
            standing = run.restore(*checkpoint.load_resume(folder))
            progress.note(f"resuming after epoch {standing.epochs_done} of {settings.epochs}")
        else:
            before = run.evaluate_base()
            run.base_module = None  # training changes the tower it shares from here on
            standing = Standing(before, Best(0, score_key(before, 0), before, run.initial_state))
        for epoch in range(standing.epochs_done + 1, settings.epochs + 1):
            _train_one_epoch(run, standing, epoch)
    except KeyboardInterrupt:
        interrupted = True
        log.info("interrupted after %d finished epochs",
                 standing.epochs_done if standing else 0)
    if standing is None:  # stopped before the starting point was even scored
        standing = Standing(None, Best(0, [], None, run.initial_state))
    saved = _finish(run, standing, interrupted)
    return FinetuneResult(
        name=settings.name, base=settings.base, folder=folder, saved=saved, interrupted=interrupted,
        epochs_done=standing.epochs_done, best_epoch=standing.best.epoch,
        before=standing.before, after=standing.best.metrics, history=standing.history,
        device=run.device.type, seconds=time.monotonic() - started,
        val_clips=len(val.clips) if val is not None else 0)


def _train_one_epoch(run: _Run, standing: Standing, epoch: int) -> EpochResult:
    """Train and score epoch `epoch`, move `standing` past it and save that for --resume."""
    started = time.monotonic()
    loss = run.run_epoch(epoch, standing.pairs_done)
    metrics = run.evaluate()
    record = EpochRecord(epoch, loss, time.monotonic() - started,
                         metrics.to_dict() if metrics else None)
    score = score_key(metrics, epoch)
    result = EpochResult(record, metrics, improved=score > standing.best.score)
    standing.history.append(record)
    standing.pairs_done += len(run.data.pairs)  # an epoch trains every pair once
    last = checkpoint.trainable_state(run.module)
    if result.improved:
        standing.best = Best(epoch, score, metrics, last)
    checkpoint.save_resume(run.folder, last, standing.best.state if result.improved else None,
                           run.optimizer, run.resume_state(standing))
    summary = f"epoch {epoch}: loss {loss:.3f}"
    if metrics is not None:
        # Percentages, as the tables print them.
        summary += (f", text->video R@1 {100 * metrics.t2v.r1:.1f}%, "
                    f"video->text R@1 {100 * metrics.v2t.r1:.1f}%")
    run.progress.note(summary + (" (best so far)" if result.improved else ""))
    return result


def _finish(run: _Run, standing: Standing, interrupted: bool) -> bool:
    """Write the best finished epoch as the model; keep the resume state unless done. Whether
    a model was written."""
    if standing.epochs_done == 0:
        return False  # nothing finished: nothing to save
    # Best epoch 0: no epoch beat the base on the held-out labels: the base is saved.
    run.write_model(standing, finished=not interrupted, interrupted=interrupted)
    if not interrupted:
        checkpoint.clear_resume(run.folder)
    return True
