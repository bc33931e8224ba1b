"""What a fine-tune leaves on disk: the model (card + safetensors) and the state to resume.

When training ends (or Ctrl-C stops it) the best epoch is written to `models_dir()/NAME/` as a
normal user model (`card.toml` + `model.safetensors`). While it runs, `NAME/.resume/` holds,
after every finished epoch: the trained tensors of that epoch (`last`) and of the best one so far
(`best`), the optimiser moments, and `state.json` (counters, settings, metrics). Only trainable
tensors are kept there; frozen ones are rebuilt from the base model. A new resume state is
written to a staging folder and swapped in whole, so a crash leaves the previous one intact. No
pickles anywhere.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from vidsearch.errors import UsageError
from vidsearch.model.cards import ModelCard
from vidsearch.model.factory import save_model
from vidsearch.model.weights import load_state_file, save_state_file
from vidsearch.train.settings import advised

log = logging.getLogger(__name__)

RESUME_DIR = ".resume"
_LAST_FILE = "last.safetensors"
_BEST_FILE = "best.safetensors"
_OPTIMIZER_FILE = "optimizer.safetensors"
_STATE_FILE = "state.json"
STATE_VERSION = 1


@dataclass
class ResumeState:
    """Everything besides tensors that a resumed run needs to carry on exactly."""

    settings: dict[str, Any]
    data_fingerprint: str
    epochs_done: int = 0
    pairs_done: int = 0
    batch_size: int = 0
    best_epoch: int = 0
    best_score: list[float] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    before: dict[str, Any] | None = None
    optimizer_groups: list[dict[str, Any]] = field(default_factory=list)
    optimizer_scalars: dict[str, dict[str, Any]] = field(default_factory=dict)
    grad_scale: float | None = None
    version: int = STATE_VERSION


def resume_folder(model_folder: Path) -> Path:
    return model_folder / RESUME_DIR


def has_resume(model_folder: Path) -> bool:
    return (resume_folder(model_folder) / _STATE_FILE).is_file()


def save_resume(model_folder: Path, last: dict[str, torch.Tensor],
                best: dict[str, torch.Tensor] | None, optimizer: torch.optim.Optimizer,
                state: ResumeState) -> None:
    """Replace the resume state; `best` None keeps the best tensors already saved."""
    target = resume_folder(model_folder)
    staging = model_folder / f"{RESUME_DIR}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    tensors, scalars, groups = split_optimizer_state(optimizer)
    state = replace(state, optimizer_groups=groups, optimizer_scalars=scalars)
    save_state_file(last, staging / _LAST_FILE)
    if best is not None:
        save_state_file(best, staging / _BEST_FILE)
    elif (target / _BEST_FILE).is_file():
        (target / _BEST_FILE).replace(staging / _BEST_FILE)
    save_state_file(tensors, staging / _OPTIMIZER_FILE)
    (staging / _STATE_FILE).write_text(json.dumps(asdict(state), indent=1), encoding="utf-8")
    old = model_folder / f"{RESUME_DIR}.old"
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def read_resume_state(model_folder: Path) -> ResumeState:
    folder = resume_folder(model_folder)
    try:
        raw = json.loads((folder / _STATE_FILE).read_text(encoding="utf-8"))
        state = ResumeState(**raw)
    except FileNotFoundError as exc:
        raise _start_afresh(f"{model_folder.name}: nothing to resume (no finished epoch was "
                            "saved)") from exc
    except (OSError, ValueError, TypeError) as exc:
        raise _start_afresh(f"{folder / _STATE_FILE}: unreadable resume state ({exc})") from exc
    if state.version != STATE_VERSION:
        raise _start_afresh(f"{folder}: resume state of another vidsearch version")
    return state


def load_resume(model_folder: Path) -> tuple[ResumeState, dict[str, torch.Tensor],
                                              dict[str, torch.Tensor] | None, dict[str, Any]]:
    """(state, last epoch's tensors, best epoch's tensors or None, optimiser state dict)."""
    state = read_resume_state(model_folder)
    folder = resume_folder(model_folder)
    last = load_state_file(folder / _LAST_FILE)
    best = load_state_file(folder / _BEST_FILE) if (folder / _BEST_FILE).is_file() else None
    optimizer_state = join_optimizer_state(load_state_file(folder / _OPTIMIZER_FILE), state)
    return state, last, best, optimizer_state


def clear_resume(model_folder: Path) -> None:
    shutil.rmtree(resume_folder(model_folder), ignore_errors=True)


def split_optimizer_state(optimizer: torch.optim.Optimizer
                          ) -> tuple[dict[str, torch.Tensor], dict[str, dict[str, Any]],
                                     list[dict[str, Any]]]:
    """An optimiser state dict as safetensors-ready tensors plus JSON-ready rest."""
    raw = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in raw["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{name}"] = value
            else:
                scalars.setdefault(str(index), {})[name] = value
    groups = [dict(group) for group in raw["param_groups"]]
    # safetensors refuses an empty file; a placeholder keeps the layout uniform.
    if not tensors:
        tensors["_empty"] = torch.zeros(0)
    return tensors, scalars, groups


def join_optimizer_state(tensors: dict[str, torch.Tensor], state: ResumeState) -> dict[str, Any]:
    per_param: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key == "_empty":
            continue
        index, name = key.split(".", 1)
        per_param.setdefault(int(index), {})[name] = value
    for index, values in state.optimizer_scalars.items():
        per_param.setdefault(int(index), {}).update(values)
    groups = []
    for group in state.optimizer_groups:
        group = dict(group)
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
        groups.append(group)
    return {"state": per_param, "param_groups": groups}


def write_model(module: torch.nn.Module, card: ModelCard, folder: Path) -> Path:
    """Save as a user model (see `save_model`); the card's `extra` carries the training record."""
    return save_model(module, card, folder)


def trainable_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """CPU copies of the tensors training changes."""
    return {name: parameter.detach().to("cpu", copy=True)
            for name, parameter in module.named_parameters() if parameter.requires_grad}


def load_trainable(module: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Put trained tensors back; they must be exactly the module's trainable ones."""
    expected = {name for name, p in module.named_parameters() if p.requires_grad}
    if set(state) != expected:
        odd = sorted(set(state) ^ expected)[:3]
        raise _start_afresh(f"saved training state does not fit this model (e.g. {odd})")
    module.load_state_dict(state, strict=False)


def _start_afresh(message: str) -> UsageError:
    """The resume state cannot be used: only a fresh run, replacing the model, can go on."""
    return advised(UsageError(message, "start a fresh run that replaces the model"),
                   "start_afresh")


def finetuned_card(base: ModelCard, name: str, module: Any, extra: dict[str, Any],
                   description: str) -> ModelCard:
    shortlist = base.shortlist_header
    if module.tight is not None:
        shortlist = getattr(module.header, "name", shortlist)
    return replace(base, name=name, description=description, base=base.name,
                   header=module.header_name, patch=module.patch, shortlist_header=shortlist,
                   extra=extra, path=None)
