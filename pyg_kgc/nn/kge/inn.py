import math
from typing import List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Linear, Parameter

from pyg_kgc.nn.flows import RelationFlow
from pyg_kgc.nn.kge.base import KGEDecoder, check_relation_ids, lp_norm

Features = Tuple[Tensor, ...]

MODES = ('directional', 'symmetric', 'stochastic')
STOCHASTIC_SCORES = ('density', 'best_of_k')


def _distance(x: Tensor, y: Tensor, p: int) -> Tensor:
    # || x - y ||_p over the last dimension, broadcasting; one query row per
    # candidate row ([n, 1, k] against [1, C, k]) is one cdist, which never
    # builds the [n, C, k] differences.
    if x.dim() == 3 and y.dim() == 3 and x.size(1) == 1 and y.size(0) == 1:
        return torch.cdist(x.squeeze(1), y.squeeze(0), p=p)
    if x.dim() == 3 and y.dim() == 3 and x.size(0) == 1 and y.size(1) == 1:
        return torch.cdist(y.squeeze(1), x.squeeze(0), p=p)
    return lp_norm(x - y, p)


def _squared_distance(x: Tensor, y: Tensor) -> Tensor:
    if x.dim() == 3 and y.dim() == 3 and x.size(1) == 1 and y.size(0) == 1:
        x, y = x.squeeze(1), y.squeeze(0)
        # ||x||^2 - 2 x.y + ||y||^2 as a matrix product, clamped at zero.
        return (x.pow(2).sum(-1, keepdim=True) - 2 * x @ y.t() +
                y.pow(2).sum(-1)).clamp(min=0)
    return (x - y).pow(2).sum(dim=-1)


class INNDecoder(KGEDecoder):
    r"""A decoder whose relations are invertible neural networks, as the
    research project "Invertible Neural Networks for Knowledge Graph
    Embeddings" (Matthiesen and Mair, 2024) proposes, built from the flows
    of the `"Normalizing Flows for Probabilistic Modeling and Inference"
    <https://arxiv.org/abs/1912.02762>`_ review (Papamakarios et al.,
    2021): every relation :math:`r` is a bijection
    :math:`f_r: \mathbb{R}^k \to \mathbb{R}^k`, a :class:`~pyg_kgc.nn.flows.
    RelationFlow` conditioned on a context vector :math:`\mathbf{c}_r`
    (NICE / RealNVP coupling layers, Glow's LU layers), and a true triple
    has :math:`f_r(\mathbf{h}) \approx \mathbf{t}`. Three modes:

    * :obj:`"directional"`:

      .. math::
          s(h, r, t) = -\| f_r(\mathbf{h}) - \mathbf{t} \|_p;

    * :obj:`"symmetric"`, for symmetric relations: :math:`f_r` maps heads
      to tails and its inverse :math:`f_r^{-1}` maps tails back to heads,
      and a symmetric relation asks for both in either orientation,

      .. math::
          s(h, r, t) = -\tfrac{1}{4} \Big( \big( \| f_r(\mathbf{h}) -
          \mathbf{t} \|_p + \| f_r^{-1}(\mathbf{t}) - \mathbf{h} \|_p \big)
          + \big( \| f_r(\mathbf{t}) - \mathbf{h} \|_p + \|
          f_r^{-1}(\mathbf{h}) - \mathbf{t} \|_p \big) \Big).

      The first half is the directional fit of :math:`(h, r, t)` measured
      at both ends (:math:`f_r(\mathbf{h}) \approx \mathbf{t}` and
      :math:`f_r^{-1}(\mathbf{t}) \approx \mathbf{h}`), the second the same
      for :math:`(t, r, h)`. Swapping :math:`h` and :math:`t` swaps the two
      halves term for term, and floating point addition is commutative, so
      :math:`s(h, r, t) = s(t, r, h)` holds bit for bit. (A learned
      bijection is no involution, :math:`f_r \neq f_r^{-1}`, so neither
      half alone is symmetric; the score is :math:`0` exactly when
      :math:`f_r(\mathbf{h}) = \mathbf{t}` and :math:`f_r(\mathbf{t}) =
      \mathbf{h}`, i.e. when :math:`h` and :math:`t` form a 2-cycle of
      :math:`f_r`.) A flow near the identity, as initialised, therefore
      scores every self-loop :math:`(h, r, h)` near the maximum: used for
      all relations of a benchmark, the mode ranked the query entity itself
      first (see :obj:`docs/inn.md`); it suits relations known to be
      symmetric. It costs a forward and an inverse pass of the flow per
      entity, twice the flow evaluations of the directional mode;

    * :obj:`"stochastic"`, for 1-to-N relations: a tail is
      :math:`\mathbf{t} = f_r(\mathbf{h} + \sigma_r \mathbf{z})`,
      :math:`\mathbf{z} \sim \mathcal{N}(\mathbf{0}, \mathbf{I})`, with
      :math:`\log \sigma_r` a learned affine function of
      :math:`\mathbf{c}_r` (so per relation when the decoder owns the
      contexts) and :math:`\sigma_r \geq` :obj:`min_sigma`. The score is
      either the exact log-density (change of variables,
      :obj:`stochastic_score="density"`)

      .. math::
          s(h, r, t) = \log \mathcal{N}\big(f_r^{-1}(\mathbf{t}) -
          \mathbf{h}; \mathbf{0}, \sigma_r^2 \mathbf{I}\big) + \log \left|
          \det \frac{\partial f_r^{-1}(\mathbf{t})}{\partial \mathbf{t}}
          \right|,

      or the best of :math:`K` samples (:obj:`stochastic_score=
      "best_of_k"`), :math:`s = -\min_{j \leq K} \|f_r(\mathbf{h} +
      \sigma_r \mathbf{z}_j) - \mathbf{t}\|_p`, the :math:`K` noise
      vectors shared by all triples of a call; in evaluation mode they are
      drawn from a generator seeded with :obj:`sample_seed`, so scores are
      reproducible (and one triple scores the same alone or among all
      candidates).

    **Relations.** A relation representation is :math:`[\mathbf{c}_r,
    d]`, the context and a direction :math:`d`: :math:`d \geq 0` stands
    for :math:`r`, :math:`d < 0` for its inverse :math:`r^{-1}`, scored
    with the same flow and defined by :math:`s(t, r^{-1}, h) = s(h, r,
    t)` exactly (inverse relations have no parameters of their own). The
    decoder owns :obj:`num_relations` contexts when that is given; with
    :obj:`inverse_relations=True` it then accepts ids in :math:`[0, 2R)`,
    :math:`r + R` meaning :math:`r^{-1}` (:attr:`num_relations` is
    :math:`2R`, as :class:`~pyg_kgc.evaluation.ReciprocalScorer` expects),
    so reciprocal training (tail queries on :math:`r` and :math:`r^{-1}`)
    trains one flow per relation. With :obj:`inverse_map=True`
    (directional mode) an inverse relation is instead the inverse map,
    :math:`s(h, r^{-1}, t) = -\| f_r^{-1}(\mathbf{h}) - \mathbf{t} \|_p`: a
    score of its own, :math:`0` exactly when :math:`\mathbf{h} =
    f_r(\mathbf{t})`, which answers the queries of :math:`r^{-1}` (the head
    queries of :math:`r` under reciprocal training) with one inverse pass per
    query instead of the flow at every candidate. Contexts from an encoder
    (e.g. InGram's relation embeddings) are passed as floats of width
    :math:`c` (direction :math:`r`) or :math:`c + 1`; :meth:`with_inverses`
    appends both directions. Dropout on representations would also drop
    the direction: keep it off with inverse ids.

    **Cost.** Scoring all tails in the directional mode (and all heads in
    the density mode, or the tails of :math:`r^{-1}` queries of the
    respective other side) applies the flow once per query, then takes
    chunked distances to all :math:`N` candidates. The other side needs the
    flow (or its inverse) at every candidate: the queries are grouped by
    their distinct relation contexts :math:`U`, the flow is applied to all
    candidates once per distinct relation (:math:`U \cdot N` flow
    evaluations, :math:`K` times more for best-of-:math:`K`), in groups of
    relations and rows that keep every intermediate under
    :attr:`max_elements` numbers. The symmetric mode needs :math:`f_r` and
    :math:`f_r^{-1}` on both sides: :math:`2 n` flow evaluations for
    :math:`n` queries plus :math:`2 U N` at the candidates.
    :meth:`corruptions` applies the flow once per triple to the side a
    corruption keeps and only where needed to the replacing entities.

    Args:
        dim (int): Width :math:`k \geq 2` of entity representations.
        num_relations (int, optional): If given, the decoder owns a context
            per relation. (default: :obj:`None`)
        context_dim (int, optional): Width :math:`c` of relation contexts.
            (default: :obj:`dim`)
        mode (str, optional): :obj:`"directional"`, :obj:`"symmetric"` or
            :obj:`"stochastic"`. (default: :obj:`"directional"`)
        p (int, optional): The norm of the distances, :obj:`1` or :obj:`2`
            (unused by the density score). (default: :obj:`2`)
        inverse_relations (bool, optional): Whether owned ids :math:`r + R`
            address inverse relations. (default: :obj:`False`)
        num_layers (int, optional): Coupling layers of the flow. (default:
            :obj:`4`)
        coupling (str, optional): :obj:`"additive"` (NICE) or
            :obj:`"affine"` (RealNVP). (default: :obj:`"affine"`)
        conditioner (str, optional): :obj:`"mlp"` (on
            :math:`[\mathbf{x}_a, \mathbf{c}_r]`) or :obj:`"hyper"`
            (hypernetwork). (default: :obj:`"mlp"`)
        hidden (int, optional): Hidden width of the conditioners.
            (default: :obj:`dim`)
        split (str, optional): :obj:`"alternate"` or :obj:`"random"`.
            (default: :obj:`"alternate"`)
        linear (str, optional): Glow LU layers: :obj:`"none"`,
            :obj:`"shared"` or :obj:`"relation"`. (default: :obj:`"none"`)
        elementwise (bool, optional): Whether the flow ends with a
            relation-specific elementwise affine map. (default: :obj:`True`)
        stochastic_score (str, optional): :obj:`"density"` or
            :obj:`"best_of_k"`. (default: :obj:`"density"`)
        num_samples (int, optional): :math:`K` of best-of-:math:`K`.
            (default: :obj:`8`)
        sample_seed (int, optional): Seed of the best-of-:math:`K` noise in
            evaluation mode; :obj:`None` draws fresh noise from the global
            generator. (default: :obj:`0`)
        init_sigma (float, optional): Initial :math:`\sigma_r`. (default:
            :obj:`0.5`)
        min_sigma (float, optional): Lower bound of :math:`\sigma_r`.
            (default: :obj:`1e-3`)
        seed (int, optional): Seed of the flow's random permutations.
            (default: :obj:`0`)
        inverse_map (bool, optional): Whether inverse relations map with
            :math:`f_r^{-1}` (directional mode only) rather than scoring
            :math:`(h, r^{-1}, t)` as :math:`(t, r, h)`. (default:
            :obj:`False`)

    Shapes:
        - **input:** head :math:`(*, k)`, relation ids :math:`(*)` or
          representations :math:`(*, c)` or :math:`(*, c + 1)`, tail
          :math:`(*, k)`
        - **output:** scores :math:`(*)`
    """
    def __init__(self, dim: int, num_relations: Optional[int] = None,
                 context_dim: Optional[int] = None, mode: str = 'directional',
                 p: int = 2, inverse_relations: bool = False,
                 num_layers: int = 4, coupling: str = 'affine',
                 conditioner: str = 'mlp', hidden: Optional[int] = None,
                 split: str = 'alternate', linear: str = 'none',
                 elementwise: bool = True, stochastic_score: str = 'density',
                 num_samples: int = 8, sample_seed: Optional[int] = 0,
                 init_sigma: float = 0.5, min_sigma: float = 1e-3,
                 seed: int = 0, inverse_map: bool = False) -> None:
        if mode not in MODES:
            raise ValueError(f"Unknown mode {mode!r} (expected one of "
                             f"{', '.join(MODES)})")
        if stochastic_score not in STOCHASTIC_SCORES:
            raise ValueError(
                f"Unknown stochastic_score {stochastic_score!r} (expected "
                f"one of {', '.join(STOCHASTIC_SCORES)})")
        if p not in (1, 2):
            raise ValueError(
                f"INNDecoder supports the L1 and L2 norms, got p={p}")
        if num_samples < 1:
            raise ValueError(
                f"num_samples must be positive, got {num_samples}")
        if not 0 < min_sigma < init_sigma:
            raise ValueError(f"Expected 0 < min_sigma < init_sigma, got "
                             f"min_sigma={min_sigma}, init_sigma={init_sigma}")
        if inverse_map and mode != 'directional':
            raise ValueError(f"inverse_map=True needs the directional mode, "
                             f"got mode={mode!r}")
        if inverse_relations and num_relations is None:
            raise ValueError("inverse_relations=True addresses owned "
                             "relations: pass num_relations")
        context_dim = dim if context_dim is None else context_dim
        super().__init__(dim, context_dim + 1, None)
        self.context_dim = context_dim
        self.mode = mode
        self.p = p
        self.inverse_relations = inverse_relations
        self.inverse_map = inverse_map
        self.stochastic_score = stochastic_score
        self.num_samples = num_samples
        self.sample_seed = sample_seed
        self.init_sigma = init_sigma
        self.min_sigma = min_sigma
        self.hidden = dim if hidden is None else hidden
        self.num_base_relations = num_relations
        if num_relations is not None:
            self.num_relations = (2 * num_relations
                                  if inverse_relations else num_relations)
            self.relation_emb = Parameter(
                torch.empty(num_relations, context_dim))
        self.flow = RelationFlow(dim, context_dim, num_layers, coupling,
                                 conditioner, self.hidden, split, linear,
                                 elementwise, seed=seed)
        self.sigma_lin = Linear(context_dim, 1) \
            if mode == 'stochastic' else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.relation_emb is not None:
            torch.nn.init.normal_(self.relation_emb)
        self.flow.reset_parameters()
        if self.sigma_lin is not None:
            torch.nn.init.zeros_(self.sigma_lin.weight)
            # min_sigma + softplus(bias) = init_sigma.
            excess = self.init_sigma - self.min_sigma
            torch.nn.init.constant_(self.sigma_lin.bias,
                                    math.log(math.expm1(excess)))

    # Relations ##############################################################

    def relation(self, relation: Tensor) -> Tensor:
        r"""Relation representations :math:`[\mathbf{c}_r, d]`: looked up
        for :obj:`torch.long` ids (:math:`d = -1` for ids :math:`r + R`
        with :obj:`inverse_relations`), completed with :math:`d = 1` for
        contexts of width :math:`c`, passed through at width :math:`c +
        1`."""
        c = self.context_dim
        if relation.is_floating_point():
            if relation.size(-1) == c:
                return torch.cat([
                    relation,
                    relation.new_ones(relation.shape[:-1]).unsqueeze(-1)
                ], dim=-1)
            if relation.size(-1) != c + 1:
                raise ValueError(
                    f"{self.__class__.__name__} expects relation "
                    f"representations of width {c} (a context) or {c + 1} "
                    f"(a context and a direction), got {relation.size(-1)}")
            return relation
        if self.relation_emb is None:
            raise ValueError(
                f"{self.__class__.__name__} owns no relation embeddings "
                f"(num_relations=None): pass relation representations")
        check_relation_ids(relation, self.num_relations)
        num = self.num_base_relations
        base = torch.remainder(relation, num).reshape(-1)
        context = self.relation_emb.index_select(0, base).view(
            *relation.shape, c)
        direction = torch.where(relation >= num, -1.0, 1.0).to(context)
        return torch.cat([context, direction.unsqueeze(-1)], dim=-1)

    def with_inverses(self, context: Tensor) -> Tensor:
        r"""The representations :math:`[2R, c + 1]` of :math:`R` relations
        given by their contexts :math:`[R, c]` (e.g. from an encoder),
        followed by those of their inverses: relation :math:`r + R` is
        :math:`r^{-1}`, as with owned ids and
        :class:`~pyg_kgc.evaluation.ReciprocalScorer`."""
        forward = self.relation(context)
        return torch.cat([forward, self.invert(forward)])

    @staticmethod
    def invert(relation: Tensor) -> Tensor:
        r"""The representations of the inverses of relation
        representations :math:`[*, c + 1]` (the direction negated)."""
        return torch.cat([relation[..., :-1], -relation[..., -1:]], dim=-1)

    def _split(self, relation: Tensor) -> Tuple[Tensor, Tensor]:
        # Contexts, and which entries address inverse relations.
        context, direction = relation[..., :-1], relation[..., -1]
        if self.mode == 'symmetric':  # r^{-1} scores as r
            return context, torch.zeros_like(direction, dtype=torch.bool)
        return context, direction < 0

    def sigma(self, context: Tensor) -> Tensor:
        r"""The noise scales :math:`\sigma_r` :math:`(*)` of contexts
        :math:`(*, c)` (stochastic mode)."""
        if self.sigma_lin is None:
            raise ValueError("sigma is defined in the stochastic mode only")
        return self.min_sigma + F.softplus(self.sigma_lin(context)).squeeze(-1)

    def noise(self, device: Optional[torch.device] = None,
              dtype: Optional[torch.dtype] = None) -> Tensor:
        r"""The :math:`K` noise vectors :math:`[K, k]` of best-of-:math:`K`
        scoring: from the global generator in training mode (or without a
        :obj:`sample_seed`), else drawn on the CPU from a generator seeded
        with :obj:`sample_seed` (the same on every device)."""
        shape = (self.num_samples, self.entity_dim)
        dtype = dtype or torch.get_default_dtype()
        if self.training or self.sample_seed is None:
            return torch.randn(shape, device=device, dtype=dtype)
        gen = torch.Generator().manual_seed(self.sample_seed)
        return torch.randn(shape, generator=gen, dtype=dtype).to(device)

    # Scores as features of either side ######################################
    #
    # Every score is combine(features(h, c, 'head'), features(t, c, 'tail')):
    # per-entity features computed once (per relation where they depend on
    # it) and a cheap, broadcasting combination.

    def _depends(self, role: str) -> bool:
        # Whether the features of an entity in this role depend on the
        # relation (then all-candidate scoring groups by relation).
        if self.mode == 'symmetric':
            return True
        if self.mode == 'directional' or self.stochastic_score == 'best_of_k':
            return role == 'head'
        return role == 'tail'  # density: f^{-1}(t)

    def _features(self, x: Tensor, context: Optional[Tensor], role: str,
                  inverse: Union[bool, Tensor] = False) -> Features:
        # inverse (inverse_map): f^{-1} instead of f for the head of a
        # directional score, everywhere (bool) or where set (a mask that
        # broadcasts with x and context).
        if not self._depends(role):
            return (x, )
        if self.mode == 'directional':
            if isinstance(inverse, Tensor):
                return (self._image(x, context, inverse), )
            flow = self.flow.inverse if inverse else self.flow
            return (flow(x, context)[0], )
        if self.mode == 'symmetric':  # x, f(x), f^{-1}(x)
            image = self.flow(x, context)[0]
            return (x, image, self.flow.inverse(x, context)[0])
        if self.stochastic_score == 'density':
            u, logdet = self.flow.inverse(x, context)
            return (u, logdet, torch.log(self.sigma(context)))
        sigma = self.sigma(context)[..., None, None]
        z = self.noise(x.device, x.dtype)
        samples = x.unsqueeze(-2) + sigma * z  # [*, K, k]
        return (self.flow(samples, context.unsqueeze(-2))[0], )

    def _image(self, x: Tensor, context: Tensor, inverse: Tensor) -> Tensor:
        # f(x), or f^{-1}(x) where `inverse`, each pass on its own rows.
        if not bool(inverse.any()):
            return self.flow(x, context)[0]
        if bool(inverse.all()):
            return self.flow.inverse(x, context)[0]
        shape = torch.broadcast_shapes(x.shape[:-1], context.shape[:-1],
                                       inverse.shape)
        x = x.expand(*shape, x.size(-1)).reshape(-1, x.size(-1))
        context = context.expand(*shape, context.size(-1)).reshape(
            -1, context.size(-1))
        inverse = inverse.expand(shape).reshape(-1)
        fwd, inv = (~inverse).nonzero().view(-1), inverse.nonzero().view(-1)
        image = torch.cat([
            self.flow(x[fwd], context[fwd])[0],
            self.flow.inverse(x[inv], context[inv])[0]
        ])
        order = torch.argsort(torch.cat([fwd, inv]))
        return image.index_select(0, order).view(*shape, -1)

    def _combine(self, head: Features, tail: Features) -> Tensor:
        if self.mode == 'directional':
            return -_distance(head[0], tail[0], self.p)
        if self.mode == 'symmetric':
            # (h, r, t) fitted at both ends, then (t, r, h): swapping the
            # roles swaps the two halves, so the sum is exactly symmetric.
            (h, f_h, g_h), (t, f_t, g_t) = head, tail
            forward = _distance(f_h, t, self.p) + _distance(g_t, h, self.p)
            backward = _distance(f_t, h, self.p) + _distance(g_h, t, self.p)
            return -(forward + backward) / 4
        if self.stochastic_score == 'density':
            u, logdet, log_sigma = tail
            k = self.entity_dim
            return (-_squared_distance(u, head[0]) /
                    (2 * torch.exp(2 * log_sigma)) - k * log_sigma -
                    0.5 * k * math.log(2 * math.pi) + logdet)
        samples, t = head[0], tail[0]
        if samples.dim() == 4 and samples.size(1) == 1 and \
                t.dim() == 3 and t.size(0) == 1:  # [n, 1, K, k], [1, C, k]
            dist = torch.cdist(samples.squeeze(1), t, p=self.p)  # [n, K, C]
            return -dist.min(dim=1).values
        return -_distance(samples, t.unsqueeze(-2), self.p).min(-1).values

    def _width(self) -> int:
        # Numbers held per (query, candidate) pair, for chunking.
        width = max(self.entity_dim, self.hidden)
        if self.mode == 'stochastic' and self.stochastic_score == 'best_of_k':
            width *= self.num_samples
        if self.mode == 'symmetric':  # f and f^{-1} of every candidate
            width *= 2
        return 2 * width

    # The KGEDecoder interface ###############################################

    def interaction(self, head: Tensor, relation: Tensor,
                    tail: Tensor) -> Tensor:
        context, inverse = self._split(relation)
        if self.inverse_map:  # r^-1 maps with f^{-1}
            return self._combine(
                self._features(head, context, 'head', inverse),
                self._features(tail, context, 'tail'))
        if bool(inverse.any()):  # (h, r^-1, t) scores as (t, r, h)
            if bool(inverse.all()):
                head, tail = tail, head
            else:
                mask = inverse.unsqueeze(-1)
                head, tail = (torch.where(mask, tail,
                                          head), torch.where(mask, head, tail))
        return self._combine(self._features(head, context, 'head'),
                             self._features(tail, context, 'tail'))

    def factors(self, head: Tensor, relation: Tensor,
                tail: Tensor) -> List[Tensor]:
        r"""Head, relation context (without the direction) and tail."""
        return [head, self.relation(relation)[..., :-1], tail]

    def _against_all(self, query: Tensor, context: Tensor, candidates: Tensor,
                     role: str, inverse: bool = False) -> Tensor:
        # Scores [n, C] of n queries in `role` against all candidates in
        # the other role (`inverse`: of inverse_map's inverse relations).
        other = 'tail' if role == 'head' else 'head'
        num, count = query.size(0), candidates.size(0)
        if num == 0:
            return candidates.new_empty(0, count)
        q = self._features(query.unsqueeze(1), context.unsqueeze(1), role,
                           inverse)
        rows = max(1, self.max_elements // max(1, count * self._width()))

        def combine(q_part: Features, c_part: Features) -> Tensor:
            return (self._combine(q_part, c_part)
                    if role == 'head' else self._combine(c_part, q_part))

        if not self._depends(other):
            # Candidates without relation-dependent features: every chunk is
            # one cdist or matrix product into [rows, C] numbers ([rows, K,
            # C] for best-of-K), no [rows, C, k] intermediate.
            width = (self.num_samples if self.mode == 'stochastic'
                     and self.stochastic_score == 'best_of_k' else 1)
            rows = max(1, self.max_elements // max(1, count * width))
            c = self._features(candidates.unsqueeze(0), None, other)
            return torch.cat([
                combine(tuple(f[i:i + rows] for f in q), c)
                for i in range(0, num, rows)
            ])

        # Group the queries by their distinct contexts; apply the flow to
        # all candidates once per distinct context, in groups of contexts.
        _, group = torch.unique(context.detach(), dim=0, return_inverse=True)
        num_groups = int(group.max()) + 1
        first = torch.full((num_groups, ), num, device=group.device)
        first = first.scatter_reduce(0, group,
                                     torch.arange(num, device=group.device),
                                     'amin')
        unique = context.index_select(0, first)  # differentiable
        order = torch.argsort(group, stable=True)
        offsets = [0] + torch.bincount(
            group, minlength=num_groups).cumsum(0).tolist()
        pieces = []
        for g0 in range(0, num_groups, rows):
            g1 = min(num_groups, g0 + rows)
            c = self._features(candidates.unsqueeze(0),
                               unique[g0:g1].unsqueeze(1), other, inverse)
            members = order[offsets[g0]:offsets[g1]]
            for i in range(0, members.numel(), rows):
                idx = members[i:i + rows]
                local = group.index_select(0, idx) - g0
                pieces.append(
                    combine(
                        tuple(f.index_select(0, idx) for f in q),
                        tuple(
                            f if f.size(0) == 1 else f.index_select(0, local)
                            for f in c)))
        return torch.cat(pieces).index_select(0, torch.argsort(order))

    def _all(self, query: Tensor, relation: Tensor, candidates: Tensor,
             role: str) -> Tensor:
        # The queries of inverse relations take the other role, or keep
        # theirs and map with f^{-1} (inverse_map).
        context, inverse = self._split(relation)
        other = 'tail' if role == 'head' else 'head'
        inv_role, inv_map = (role, True) if self.inverse_map else (other,
                                                                   False)
        if not bool(inverse.any()):
            return self._against_all(query, context, candidates, role)
        if bool(inverse.all()):
            return self._against_all(query, context, candidates, inv_role,
                                     inv_map)
        fwd = (~inverse).nonzero().view(-1)
        inv = inverse.nonzero().view(-1)
        scores = torch.cat([
            self._against_all(query[fwd], context[fwd], candidates, role),
            self._against_all(query[inv], context[inv], candidates, inv_role,
                              inv_map)
        ])
        return scores.index_select(0, torch.argsort(torch.cat([fwd, inv])))

    def all_tails(self, head: Tensor, relation: Tensor, candidates: Tensor,
                  out: Optional[Tensor] = None) -> Tensor:
        return self._all(head, relation, candidates, 'head')

    def all_heads(self, candidates: Tensor, relation: Tensor, tail: Tensor,
                  out: Optional[Tensor] = None) -> Tensor:
        return self._all(tail, relation, candidates, 'tail')

    def corruptions(self, head: Tensor, relation: Tensor, tail: Tensor,
                    candidates: Tensor, corrupt_head: Tensor) -> Tensor:
        context, inverse = self._split(relation)
        # Which rows map their heads with f^{-1} (inverse_map).
        mapped: Union[bool, Tensor] = False
        if self.inverse_map:
            h, t, replaces_head, mapped = head, tail, corrupt_head, inverse
        else:  # in the orientation of r: (h, r^-1, t) is (t, r, h)
            mask = inverse.unsqueeze(-1)
            h = torch.where(mask, tail, head)
            t = torch.where(mask, head, tail)
            replaces_head = corrupt_head ^ inverse.unsqueeze(-1)
        # Features once per triple.
        fixed_head = self._features(h, context, 'head', mapped)
        fixed_tail = self._features(t, context, 'tail')
        scores = candidates.new_zeros(corrupt_head.shape)
        for replaced, role in ((replaces_head, 'head'), (~replaces_head,
                                                         'tail')):
            rows, cols = replaced.nonzero(as_tuple=True)
            if rows.numel() == 0:
                continue
            entity = candidates[rows, cols]
            ctx = context.index_select(0, rows)
            if role == 'head':
                inv = (mapped.index_select(0, rows) if isinstance(
                    mapped, Tensor) else False)
                s = self._combine(self._features(entity, ctx, 'head', inv),
                                  tuple(f[rows] for f in fixed_tail))
            else:
                s = self._combine(tuple(f[rows] for f in fixed_head),
                                  self._features(entity, ctx, 'tail'))
            scores = scores.index_put((rows, cols), s)
        return scores

    def __repr__(self) -> str:
        extra = ''
        if self.mode == 'stochastic':
            extra = (f', stochastic_score={self.stochastic_score!r}, '
                     f'num_samples={self.num_samples}')
        return (f'{self.__class__.__name__}({self.entity_dim}, '
                f'num_relations={self.num_base_relations}, '
                f'context_dim={self.context_dim}, mode={self.mode!r}, '
                f'p={self.p}, inverse_relations={self.inverse_relations}'
                f'{", inverse_map=True" if self.inverse_map else ""}'
                f'{extra}, flow={self.flow!r})')
