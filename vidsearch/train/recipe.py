"""The CLIP4Clip fine-tuning recipe: its defaults, the loss, the schedule, the optimiser's
parameter groups, what is frozen. Its default numbers live in `settings.DEFAULTS`;
the loop (`loop`) only applies the recipe.

The recipe is the paper's (docs CLIP4CLIP.md): AdamW with weight decay 0.2 except on biases,
norms and the temperature; new header weights at 1e-4, CLIP's own at 1e-7; 10% linear warm-up
then cosine decay; the 2D patch embedding frozen; up to 12 frames per clip at 1 fps; captions
cut to 32 tokens. The held-out split is scored before training and after every epoch; the best
epoch (the untouched start included) is what gets saved.

One change from the paper's loss: a user's labels repeat themselves ("our dog Max" on many
clips, several captions on one clip), so pairs in a batch that share a clip or a caption are all
positives of each other (a soft target) instead of false negatives. With distinct pairs this is
exactly the symmetric InfoNCE of the paper. Clips the user marked as wrong answers (the TUI's
`-`, a labels file's `negative` column) join the batches of their captions as hard negatives
(`contrastive_loss`, `hard_negatives`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from vidsearch.errors import UsageError
from vidsearch.metrics import BothWays
from vidsearch.model.clip4clip import CLIP4Clip
from vidsearch.train.settings import DEFAULTS, advised

MAX_LOGIT_SCALE = math.log(100)  # CLIP's cap on its learned temperature
ADAMW_BETAS = (0.9, 0.98)  # CLIP's, kept by CLIP4Clip
ADAMW_EPS = 1e-6


def build_optimizer(module: CLIP4Clip, lr: float, clip_lr: float, weight_decay: float
                    ) -> torch.optim.Optimizer:
    groups = build_param_groups(module, lr, clip_lr, weight_decay)
    return torch.optim.AdamW(groups, betas=ADAMW_BETAS, eps=ADAMW_EPS)


def prepare_module(base: CLIP4Clip, header: str, patch: str, shortlist: str) -> CLIP4Clip:
    """The base module with the requested header and patch (new parts freshly initialised)."""
    if (header, patch) == (base.header_name, base.patch):
        return base
    if base.patch == "3d" and patch == "2d":
        raise advised(UsageError("a 3d-patch model cannot become 2d again",
                                 "keep its 3d patch, or start from a 2d model"), "patch_3d")
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
    caption counted as a positive (soft targets); the paper's loss when pairs are distinct.

    `logits` may have more columns than rows: the batch's own clips first, then hard negatives
    (`hard_negatives`), clips the user marked as wrong answers to captions of the batch. Each
    caption's softmax over clips then has them as extra candidates with a target of 0, so the
    loss falls only as their scores fall below the right answer's: in-batch negatives are
    whatever clips happen to be drawn, these are the ones the model actually confused.
    They take no part in the video->text half: a clip marked wrong has no right caption in the
    batch to be pulled toward. The caller keeps them apart from the batch's right answers
    (`hard_negatives` does): a column that is some row's right answer is no negative.
    """
    batch = logits.shape[0]
    positive = ((clip_ids[:, None] == clip_ids[None, :])
                | (caption_ids[:, None] == caption_ids[None, :])).float()
    targets = positive / positive.sum(dim=1, keepdim=True)
    logits = logits.float()
    extra = logits.shape[1] - batch
    wide_targets = F.pad(targets, (0, extra)) if extra else targets
    to_video = -(wide_targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
    own = logits[:, :batch]
    to_text = -(targets.t() * F.log_softmax(own.t(), dim=1)).sum(dim=1).mean()
    return (to_video + to_text) / 2


def hard_negatives(clip_ids: Sequence[int], captions: Sequence[str],
                   wrong_clips: Mapping[str, Sequence[int]],
                   right_captions: Callable[[int], Iterable[str]], limit: int) -> list[int]:
    """The clips to add to a batch as hard negatives: those marked wrong for its captions, at
    most `limit` (the video side of a step grows by at most that much), never a clip of the
    batch itself nor one that is a right answer to any caption of the batch (it would push a
    right answer down). First come, first kept: the batch order is already shuffled."""
    in_batch = set(clip_ids)
    asked = set(captions)
    chosen: list[int] = []
    for caption in dict.fromkeys(captions):
        for clip in wrong_clips.get(caption, ()):
            if len(chosen) >= limit:
                return chosen
            if clip in in_batch or clip in chosen or asked.intersection(right_captions(clip)):
                continue
            chosen.append(clip)
    return chosen


def default_batch_size(device: torch.device, frozen: bool, pairs: int) -> int:
    if frozen:
        size = DEFAULTS.frozen_batch
    else:
        size = DEFAULTS.cuda_batch if device.type == "cuda" else DEFAULTS.cpu_batch
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
