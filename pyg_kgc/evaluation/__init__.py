r"""Filtered rank-based evaluation and the scoring interface models
implement."""
from pyg_kgc.evaluation.evaluator import RankingEvaluator
from pyg_kgc.evaluation.known_triples import KnownTriples, check_triples
from pyg_kgc.evaluation.ranking import (
    RankingResult,
    filtered_ranks,
    rank_metrics,
    ranks_with_ties,
)
from pyg_kgc.evaluation.scoring import KGScorer, ReciprocalScorer
from pyg_kgc.evaluation.self_ranking import self_ranked_first

__all__ = [
    'KGScorer',
    'ReciprocalScorer',
    'KnownTriples',
    'RankingEvaluator',
    'RankingResult',
    'filtered_ranks',
    'ranks_with_ties',
    'rank_metrics',
    'check_triples',
    'self_ranked_first',
]
