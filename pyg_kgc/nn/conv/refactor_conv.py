from typing import Optional, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.nn.conv import MessagePassing

from pyg_kgc.evaluation.known_triples import check_triples
from pyg_kgc.nn.kge.base import DotProductDecoder
from pyg_kgc.nn.kge.complex import ComplEx, complex_modulus


class ReFactorConv(MessagePassing):
    r"""The ReFactor layer from the `"ReFactor GNNs: Revisiting
    Factorisation-based Models from a Message-Passing Perspective"
    <https://arxiv.org/abs/2207.09980>`_ paper: one full-batch gradient
    descent step, with learning rate :math:`\eta`, on the node states of
    DistMult trained with the softmax likelihood over all entities,

    .. math::
        \mathcal{L}(\mathbf{h}) = -\frac{1}{|\mathcal{T}|}
        \sum_{(v, r, w) \in \mathcal{T}} \log
        \frac{\exp \langle \mathbf{h}_v, \mathbf{g}_r, \mathbf{h}_w \rangle}
        {\sum_{u \in \mathcal{E}} \exp \langle \mathbf{h}_v, \mathbf{g}_r,
        \mathbf{h}_u \rangle},

    read as message passing (the paper's Theorem 3.1 and Eq. (12)):

    .. math::
        \mathbf{h}^{\prime}_v = \mathbf{h}_v - \beta \, \mathbf{n}_v +
        \alpha \sum_{(r, w) \in \mathcal{N}(v)} q_M(\mathbf{h}_v, r,
        \mathbf{h}_w), \qquad \alpha = \frac{\eta}{|\mathcal{T}|}, \quad
        \beta = \eta,

    with the messages of Eq. (8): :math:`\mathbf{h}_w \odot \mathbf{g}_r`
    from every object :math:`w` of a triple :math:`(v, r, w)`, and
    :math:`(1 - P(v \mid w, r)) \, \mathbf{h}_w \odot \mathbf{g}_r` from
    every subject :math:`w` of a triple :math:`(w, r, v)`, and the global
    term of Eq. (11), the pull of the softmax normaliser towards all
    entities,

    .. math::
        \mathbf{n}_v = \frac{1}{|\mathcal{T}|} \Big( \sum_{(v, r, w) \in
        \mathcal{T}} \sum_{u \in \mathcal{E}} P(u \mid v, r) \,
        \mathbf{g}_r \odot \mathbf{h}_u + \sum_{(s, r, o) \in \mathcal{T},
        o \neq v} P(v \mid s, r) \, \mathbf{g}_r \odot \mathbf{h}_s \Big).

    The second sum runs over every triple whose object is not :math:`v`;
    Eq. (11) writes :math:`\mathcal{T}^{-v}`, which also leaves out the
    triples whose subject is :math:`v`, but their term :math:`P(v \mid v,
    r)` is part of the exact gradient and is kept, so that the layer *is*
    the gradient step: :math:`\mathbf{h}^{\prime} = \mathbf{h} - \eta
    \nabla_{\mathbf{h}} \mathcal{L}`.

    :math:`\mathbf{n}` is computed exactly, with all entities as
    candidates: the distinct queries :math:`(v, r)` of the triples (a
    query with several answers is scored once) are scored against all
    entities by matrix products in chunks of :obj:`chunk_size`, so memory
    is :math:`O(\text{chunk\_size} \cdot |\mathcal{E}|)`. Everything is
    differentiable, so the relation embeddings :math:`\mathbf{g}` (and an
    encoder of the input states) are trained through the layer.

    Args:
        lr (float): The learning rate :math:`\eta` of the induced step.
        use_global (bool, optional): Include :math:`-\beta \mathbf{n}`; if
            :obj:`False`, the update keeps only the messages from the
            neighbours (with their normaliser factor :math:`1 - P`).
            (default: :obj:`True`)
        chunk_size (int, optional): Distinct queries (subject and
            relation) scored against all entities at once.
            (default: :obj:`4096`)
        optimizer (str, optional): The optimiser whose step the layer is:
            :obj:`"sgd"` (the update above) or :obj:`"adagrad"` (the same
            direction, scaled per coordinate by the accumulated squared
            gradients, which become part of the node state).
            (default: :obj:`"sgd"`)
        eps (float, optional): AdaGrad's :math:`\epsilon`.
            (default: :obj:`1e-10`, as :class:`torch.optim.Adagrad`)
        decoder (DotProductDecoder, optional): The factorisation model whose
            step the layer is, if not DistMult: any decoder whose score is
            bilinear, :math:`f_r(\mathbf{h}, \mathbf{t}) = \langle
            \mathbf{q}_r(\mathbf{h}), \mathbf{t} \rangle`, e.g.
            :class:`~pyg_kgc.nn.kge.ComplEx` (the paper's appendix); the
            messages become its head and tail queries. Only its query
            functions are used: relation representations are passed to
            :meth:`forward`. (default: :obj:`None`, DistMult)
        n3 (float, optional): Weight :math:`\lambda` of the N3 regulariser
            (Lacroix et al., 2018) in the loss whose step the layer is,
            :math:`\frac{\lambda}{|\mathcal{T}|} \sum_{(s, r, o)}
            (\|\mathbf{h}_s\|_3^3 + \|\mathbf{h}_o\|_3^3)` (moduli of
            complex coordinates for ComplEx); it adds :math:`-\eta
            \frac{3 \lambda c_v}{|\mathcal{T}|} |\mathbf{h}_v| \odot
            \mathbf{h}_v` to the update, :math:`c_v` the number of
            triples of :math:`v`. (default: :obj:`0.0`)
        batch_size (int, optional): If set, the paper's stochastic
            evaluation for large graphs: the triples are cut, in the given
            order, into mini-batches of this size (shuffle them for a random
            partition), and the layer is the cascade of one step per
            mini-batch, each on the subgraph the mini-batch induces (its
            triples and entities: :math:`\mathbf{n}` and the softmax only
            over the entities present in it), the states of those entities
            updated before the next mini-batch, as one epoch of mini-batch
            gradient descent. (default: :obj:`None`, full batch)

    Shapes:
        - **input:** node states :math:`(|\mathcal{V}|, K)`, edge indices
          (subjects, objects) :math:`(2, |\mathcal{E}|)`, edge types
          :math:`(|\mathcal{E}|)`, relation embeddings
          :math:`(|\mathcal{R}|, K)`
        - **output:** node states :math:`(|\mathcal{V}|, K)`
    """
    def __init__(self, lr: float, use_global: bool = True,
                 chunk_size: int = 4096, optimizer: str = 'sgd',
                 eps: float = 1e-10,
                 decoder: Optional[DotProductDecoder] = None, n3: float = 0.0,
                 batch_size: Optional[int] = None) -> None:
        super().__init__(aggr='add', node_dim=0)
        if optimizer not in ('sgd', 'adagrad'):
            raise ValueError(f"Unknown optimizer {optimizer!r}; expected "
                             f"'sgd' or 'adagrad'")
        if lr <= 0:
            raise ValueError(f"lr must be positive, got {lr}")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, got "
                             f"{chunk_size}")
        if n3 < 0:
            raise ValueError(f"n3 must be non-negative, got {n3}")
        if n3 > 0 and decoder is not None and not isinstance(decoder, ComplEx):
            raise ValueError("n3 is supported with DistMult and ComplEx")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be positive, got "
                             f"{batch_size}")
        self.n3 = n3
        self.batch_size = batch_size
        self.lr = lr
        self.use_global = use_global
        self.chunk_size = chunk_size
        self.optimizer = optimizer
        self.eps = eps
        self.decoder = decoder

    def _tail_query(self, head: Tensor, relation: Tensor) -> Tensor:
        if self.decoder is None:  # DistMult: h * g
            return head * relation
        return self.decoder.tail_query(head, relation)

    def _head_query(self, relation: Tensor, tail: Tensor) -> Tensor:
        if self.decoder is None:
            return relation * tail
        return self.decoder.head_query(relation, tail)

    def _normaliser(self, x: Tensor, query: Tensor, g: Tensor,
                    edge_index: Tensor, edge_type: Tensor,
                    num_relations: int) -> Tuple[Tensor, Tensor]:
        r"""The probability of every triple's object, :math:`[E]`, and
        :math:`|\mathcal{T}| \mathbf{n}` with the objects' own terms
        included, :math:`[N, K]` (zeros without the global term).

        Triples with the same subject and relation share their query and
        so their softmax over all entities: each distinct query is scored
        once, and its terms of :math:`\mathbf{n}` count once per triple
        (on FB15k-237 with inverse triples, 28 % of the triples are
        distinct queries; on CoDEx-S 18 %)."""
        subject, obj = edge_index
        key = subject * num_relations + edge_type
        _, inverse, counts = torch.unique(key, sorted=True,
                                          return_inverse=True,
                                          return_counts=True)
        num_queries = counts.numel()
        # Triples sorted by their query: those of queries [a, b) are the
        # slice order[offset[a]:offset[b]].
        order = torch.argsort(inverse, stable=True)
        offsets = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])
        first = order[offsets[:-1]]  # one triple per query
        query, g, subject = query[first], g[first], subject[first]
        weight = counts.to(x.dtype).view(-1, 1)
        starts = list(range(0, num_queries, self.chunk_size))
        offsets = offsets[starts + [num_queries]].tolist()
        p_object = []
        global_term = torch.zeros_like(x)
        for i, start in enumerate(starts):
            chunk = slice(start, start + self.chunk_size)
            prob = torch.softmax(query[chunk] @ x.t(), dim=-1)  # [C, N]
            triples = order[offsets[i]:offsets[i + 1]]
            p_object.append(prob[inverse[triples] - start, obj[triples]])
            if self.use_global:
                # Subject side: sum_u P(u | v, r) d f_r(v, u) / d h_v, to v
                # (the score is linear in the candidate: the expected
                # candidate's head query).
                expected = self._head_query(g[chunk], prob @ x)
                global_term = global_term.index_add(0, subject[chunk],
                                                    weight[chunk] * expected)
                # Candidate side: P(u | s, r) q(s, r), to every u.
                global_term = global_term + prob.t() @ (weight[chunk] *
                                                        query[chunk])
        p_object = torch.cat(p_object)  # back to the order of the triples:
        return torch.empty_like(p_object).scatter(0, order,
                                                  p_object), global_term

    def forward(
        self, x: Tensor, edge_index: Tensor, edge_type: Tensor,
        relation: Tensor, accumulator: Optional[Tensor] = None
    ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        r"""Runs the forward pass of the module.

        Args:
            x (torch.Tensor): Node states :math:`[N, K]`.
            edge_index (torch.Tensor): Subjects and objects :math:`[2, E]`.
            edge_type (torch.Tensor): Relations :math:`[E]`.
            relation (torch.Tensor): Relation embeddings :math:`[R, K]`
                (DistMult's :math:`\mathbf{g}`).
            accumulator (torch.Tensor, optional): With
                :obj:`optimizer="adagrad"`, the sum of squared past
                gradients :math:`[N, K]`, part of the node state.
                (default: zeros)

        :rtype: the new node states, and with AdaGrad also the new
            accumulator
        """
        if x.dim() != 2 or relation.dim() != 2 or x.size(1) != relation.size(
                1) or (self.decoder is not None
                       and x.size(1) != self.decoder.entity_dim):
            raise ValueError(f"Expected node states [N, K] and relation "
                             f"embeddings [R, K], got {list(x.shape)} and "
                             f"{list(relation.shape)}")
        check_triples(edge_index, edge_type, x.size(0), relation.size(0),
                      'ReFactorConv triples')
        num_triples = edge_type.numel()
        if num_triples == 0:
            raise ValueError("ReFactorConv needs at least one triple: the "
                             "step is defined by their mean likelihood")
        if self.optimizer == 'sgd' and accumulator is not None:
            raise ValueError("An accumulator is only used with "
                             "optimizer='adagrad'")
        if self.optimizer == 'adagrad':
            if accumulator is None:
                accumulator = torch.zeros_like(x)
            elif accumulator.shape != x.shape:
                raise ValueError(f"accumulator must have shape "
                                 f"{list(x.shape)}, got "
                                 f"{list(accumulator.shape)}")
        if self.batch_size is None or self.batch_size >= num_triples:
            return self._step(x, edge_index, edge_type, relation, accumulator)
        for start in range(0, num_triples, self.batch_size):
            batch = slice(start, start + self.batch_size)
            nodes, local = torch.unique(edge_index[:, batch],
                                        return_inverse=True)
            out = self._step(
                x.index_select(0, nodes), local, edge_type[batch], relation,
                None if accumulator is None else accumulator.index_select(
                    0, nodes))
            if accumulator is None:
                x = x.index_copy(0, nodes, out)
            else:
                x = x.index_copy(0, nodes, out[0])
                accumulator = accumulator.index_copy(0, nodes, out[1])
        return x if accumulator is None else (x, accumulator)

    def _step(
            self, x: Tensor, edge_index: Tensor, edge_type: Tensor,
            relation: Tensor, accumulator: Optional[Tensor]
    ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        num_triples = edge_type.numel()
        subject, obj = edge_index
        g = relation.index_select(0, edge_type)
        query = self._tail_query(x.index_select(0, subject), g)
        # P(o | s, r) of every triple's object
        p_object, global_term = self._normaliser(x, query, g, edge_index,
                                                 edge_type, relation.size(0))
        p_object = p_object.view(-1, 1)
        # Messages: from objects to subjects, and (1 - P) from subjects to
        # objects; the objects' P terms leave n[v] for the messages.
        z = self.propagate(edge_index.flip(0), x=x, g=g, size=None)
        z = z.index_add(0, obj, (1 - p_object) * query)
        if self.use_global:
            global_term = global_term.index_add(0, obj, -p_object * query)
            z = z - global_term
        if self.n3 > 0:
            # d/dh of |h|^3 per (complex) coordinate: 3 |h| h, once for
            # every triple the entity is in.
            count = torch.zeros(x.size(0), dtype=x.dtype,
                                device=x.device).index_add_(
                                    0, edge_index.reshape(-1),
                                    x.new_ones(2 * num_triples))
            z = z - 3 * self.n3 * count.view(-1, 1) * self._modulus(x) * x
        descent = z / num_triples  # -grad of the mean likelihood
        if self.optimizer == 'sgd':
            return x + self.lr * descent
        # AdaGrad: G' = G + grad^2, h' = h - lr * grad / (sqrt(G') + eps).
        accumulator = accumulator + descent.pow(2)
        # A gradient coordinate below ~1e-19 squares to 0 in float32, and
        # sqrt'(0) is infinite: the backward pass would turn NaN. Below the
        # smallest normal number (far below eps) G' counts as that number.
        root = accumulator.clamp_min(torch.finfo(x.dtype).tiny).sqrt()
        return x + self.lr * descent / (root + self.eps), accumulator

    def _modulus(self, x: Tensor) -> Tensor:
        if isinstance(self.decoder, ComplEx):
            return complex_modulus(x).repeat_interleave(2, dim=-1)
        return x.abs()

    def message(self, x_j: Tensor, g: Tensor) -> Tensor:
        return self._head_query(g, x_j)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(lr={self.lr}, '
                f'use_global={self.use_global}, '
                f'optimizer={self.optimizer!r}, n3={self.n3}, '
                f'batch_size={self.batch_size}, decoder={self.decoder})')
