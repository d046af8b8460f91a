r"""Negative sampling, losses and the plain training loop of the
examples."""
from pyg_kgc.training.loop import (
    History,
    fit,
    load_checkpoint,
    save_checkpoint,
    seed_everything,
)
from pyg_kgc.training.losses import (
    binary_cross_entropy_loss,
    cross_entropy_loss,
    margin_ranking_loss,
    one_to_n_bce_loss,
    self_adversarial_loss,
)
from pyg_kgc.training.negative_sampling import (
    NegativeSampler,
    bernoulli_head_probability,
    in_batch_candidates,
    one_to_n_targets,
)
from pyg_kgc.training.splits import (
    appearance_order,
    spanning_forest,
    split_messages,
)

__all__ = [
    'NegativeSampler',
    'bernoulli_head_probability',
    'in_batch_candidates',
    'one_to_n_targets',
    'appearance_order',
    'spanning_forest',
    'split_messages',
    'margin_ranking_loss',
    'binary_cross_entropy_loss',
    'self_adversarial_loss',
    'cross_entropy_loss',
    'one_to_n_bce_loss',
    'fit',
    'History',
    'seed_everything',
    'save_checkpoint',
    'load_checkpoint',
]
