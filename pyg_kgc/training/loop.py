r"""A small, plain training loop: epochs, periodic validation with early
stopping, seeds, and checkpoints that resume exactly."""
import copy
import math
import os.path as osp
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import torch
from tqdm.auto import tqdm

from pyg_kgc.utils.io import atomic_save


def seed_everything(seed: int) -> None:
    r"""Seeds Python's, NumPy's (if installed) and PyTorch's random number
    generators."""
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy
        numpy.random.seed(seed)
    except ImportError:  # pragma: no cover
        pass


def _rng_state() -> Dict[str, Any]:
    state: Dict[str, Any] = {
        'python': random.getstate(),
        'torch': torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state_all()
    try:
        import numpy
        state['numpy'] = numpy.random.get_state()
    except ImportError:  # pragma: no cover
        pass
    return state


def _set_rng_state(state: Dict[str, Any]) -> None:
    random.setstate(state['python'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])
    if 'numpy' in state:
        import numpy
        numpy.random.set_state(state['numpy'])


def save_checkpoint(path: str, model: torch.nn.Module,
                    optimizer: Optional[torch.optim.Optimizer] = None,
                    **extra: Any) -> None:
    r"""Saves the model, the optimizer, the random number generators'
    states and :obj:`extra` to :obj:`path`, atomically (a temporary file
    renamed into place)."""
    state = {
        'model': model.state_dict(),
        'optimizer': None if optimizer is None else optimizer.state_dict(),
        'rng': _rng_state(),
        'extra': extra,
    }
    atomic_save(state, path)


_IMPLEMENTATION_FLAGS = ('fused', 'foreach', 'capturable', 'differentiable')


def load_checkpoint(path: str, model: torch.nn.Module,
                    optimizer: Optional[torch.optim.Optimizer] = None,
                    restore_rng: bool = True) -> Dict[str, Any]:
    r"""Loads a checkpoint of :func:`save_checkpoint` into :obj:`model` and
    :obj:`optimizer`, restores the random number generators (so that
    training continues as if never interrupted) and returns the
    :obj:`extra` entries."""
    state = torch.load(path, map_location='cpu', weights_only=False)
    model.load_state_dict(state['model'])
    if optimizer is not None:
        if state['optimizer'] is None:
            raise ValueError(f"'{path}' holds no optimizer state")
        # How the update is computed (fused, foreach, ...) belongs to this
        # process, not to the saved run: keep the live optimizer's choice.
        flags = [{
            key: group[key]
            for key in _IMPLEMENTATION_FLAGS if key in group
        } for group in optimizer.param_groups]
        optimizer.load_state_dict(state['optimizer'])
        for group, saved in zip(optimizer.param_groups, flags):
            group.update(saved)
    if restore_rng:
        _set_rng_state(state['rng'])
    return state['extra']


@dataclass
class History:
    r"""What :func:`fit` did: the loss of every epoch, the validation
    metric of every evaluated epoch, and the best of those."""
    losses: List[Tuple[int, float]] = field(default_factory=list)
    metrics: List[Tuple[int, float]] = field(default_factory=list)
    best_epoch: Optional[int] = None
    best_metric: Optional[float] = None
    stopped_early: bool = False


def fit(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
        train_epoch: Callable[[int], float], epochs: int,
        validate: Optional[Callable[[], float]] = None, eval_every: int = 1,
        patience: Optional[int] = None, checkpoint: Optional[str] = None,
        progress: bool = True,
        state: Optional[Mapping[str, Any]] = None) -> History:
    r"""Trains :obj:`model` for up to :obj:`epochs` epochs.

    Every epoch calls :obj:`train_epoch(epoch)` (which does the work and
    returns the epoch's loss). Every :obj:`eval_every` epochs, and after the
    last, :obj:`validate()` returns a metric to maximise (e.g. the
    validation MRR); training stops early after :obj:`patience` evaluations
    without improvement, and the best weights are restored at the end.

    With :obj:`checkpoint`, the state every :obj:`eval_every` epochs (model,
    optimizer, random number generators, history, best weights, and the
    :obj:`state_dict()` of every object in :obj:`state`, e.g. a learning
    rate scheduler) is saved there; if the file exists when :func:`fit`
    starts, training resumes from it and ends exactly as an uninterrupted
    run would.

    An epoch whose loss is not finite (NaN or infinite) raises a
    :class:`FloatingPointError` naming the epoch at once, before anything
    is validated or saved: a checkpoint keeps the last finite state.

    Args:
        model (torch.nn.Module): The model.
        optimizer (torch.optim.Optimizer): Its optimizer.
        train_epoch (callable): Runs one epoch, returns its loss.
        epochs (int): The number of epochs.
        validate (callable, optional): Returns the metric to maximise.
            (default: :obj:`None`, no validation)
        eval_every (int, optional): Epochs between validations.
            (default: :obj:`1`)
        patience (int, optional): Validations without improvement before
            stopping. (default: :obj:`None`, never stop early)
        checkpoint (str, optional): Checkpoint path. (default: :obj:`None`)
        progress (bool, optional): Show a progress bar. (default: :obj:`True`)
        state (dict, optional): More objects with :obj:`state_dict()` and
            :obj:`load_state_dict()` to checkpoint, by name.
            (default: :obj:`None`)
    """
    state = {} if state is None else state
    history = History()
    best_state = None
    start = 1
    last_saved = None  # the epoch whose state the checkpoint holds
    if checkpoint is not None and osp.exists(checkpoint):
        extra = load_checkpoint(checkpoint, model, optimizer)
        history, best_state = extra['history'], extra['best_state']
        saved = extra.get('state', {})
        if set(saved) != set(state):
            raise ValueError(f"'{checkpoint}' holds the state of "
                             f"{sorted(saved)}, expected {sorted(state)}")
        for name, obj in state.items():
            obj.load_state_dict(saved[name])
        start = extra['epoch'] + 1
        last_saved = extra['epoch']
        if history.stopped_early:
            start = epochs + 1
    bar = tqdm(range(start, epochs + 1), disable=not progress, desc='epochs')
    for epoch in bar:
        model.train()
        loss = float(train_epoch(epoch))
        if not math.isfinite(loss):
            # Stop before anything is validated or saved: a checkpoint
            # keeps the last finite state.
            saved = (f"; '{checkpoint}' holds the state after epoch "
                     f"{last_saved}" if last_saved is not None else '')
            raise FloatingPointError(
                f"The training loss of epoch {epoch} is {loss}: the "
                f"weights or the scores are no longer finite (a learning "
                f"rate too large, or unbounded scores){saved}")
        history.losses.append((epoch, loss))
        postfix = {'loss': f'{loss:.4f}'}
        if epoch % eval_every == 0 or epoch == epochs:
            if validate is not None:
                model.eval()
                metric = float(validate())
                history.metrics.append((epoch, metric))
                if (history.best_metric is None
                        or metric > history.best_metric):
                    history.best_metric, history.best_epoch = metric, epoch
                    best_state = copy.deepcopy(model.state_dict())
                since_best = sum(1 for e, _ in history.metrics
                                 if e > history.best_epoch)
                if patience is not None and since_best >= patience:
                    history.stopped_early = True
            if checkpoint is not None:
                save_checkpoint(
                    checkpoint, model, optimizer, epoch=epoch, history=history,
                    best_state=best_state, state={
                        name: obj.state_dict()
                        for name, obj in state.items()
                    })
                last_saved = epoch
        if history.best_metric is not None:
            postfix['valid'] = f'{history.metrics[-1][1]:.4f}'
            postfix['best'] = (f'{history.best_metric:.4f} '
                               f'@{history.best_epoch}')
        # Without a refresh of its own the bar keeps tqdm's interval
        # (TQDM_MININTERVAL), so a long run's log stays short.
        bar.set_postfix(postfix, refresh=False)
        if history.stopped_early:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history
