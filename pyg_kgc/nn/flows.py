r"""Relation-conditioned invertible maps (normalising flow layers).

Every layer is a bijection :math:`f_{\mathbf{c}}: \mathbb{R}^k \to
\mathbb{R}^k` that may depend on a context vector :math:`\mathbf{c}` (in
knowledge graph completion: the representation of a relation) and returns,
with its output, the exact log-absolute-determinant of its Jacobian for
every sample:

.. code-block:: python

    y, logdet = layer(x, context)           # y = f_c(x)
    x, logdet_inverse = layer.inverse(y, context)

Inputs broadcast: :obj:`x` :math:`(*_x, k)` and :obj:`context` :math:`(*_c,
c)` give outputs :math:`(*, k)` and log-determinants :math:`(*)`, :math:`*`
the broadcast of :math:`*_x` and :math:`*_c`. A batch of queries against
all candidates, e.g. :obj:`x` :math:`(1, N, k)` with :obj:`context`
:math:`(U, 1, c)`, thus never copies a context per candidate. See the review
`"Normalizing Flows for Probabilistic Modeling and Inference"
<https://arxiv.org/abs/1912.02762>`_ (Papamakarios et al., 2021) for the
constructions.
"""
import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Linear, Parameter

__all__ = [
    'InvertibleModule',
    'InvertibleSequential',
    'MLPConditioner',
    'HyperConditioner',
    'CouplingLayer',
    'InvertibleLinear',
    'ConditionalAffine',
    'RelationFlow',
    'soft_clamp',
]


def soft_clamp(x: Tensor, bound: float) -> Tensor:
    r"""A smooth clamp of :obj:`x` into :math:`(-b, b)`, :math:`b \tanh(x /
    b)`: the identity near zero (slope :math:`1`) and saturating at
    :math:`\pm b`."""
    return bound * torch.tanh(x / bound)


def _batch_shape(x: Tensor, context: Optional[Tensor]) -> torch.Size:
    if context is None:
        return x.shape[:-1]
    return torch.broadcast_shapes(x.shape[:-1], context.shape[:-1])


class InvertibleModule(torch.nn.Module):
    r"""Base class of the context-conditioned invertible layers:
    :meth:`forward` returns :math:`(\mathbf{y}, \log |\det
    \partial \mathbf{y} / \partial \mathbf{x}|)`, :meth:`inverse` returns
    :math:`(\mathbf{x}, \log |\det \partial \mathbf{x} / \partial
    \mathbf{y}|)`.

    Args:
        dim (int): Width :math:`k` of the transformed vectors.
        context_dim (int, optional): Width :math:`c` of the context vectors;
            :obj:`0` for a layer without context. (default: :obj:`0`)
    """
    def __init__(self, dim: int, context_dim: int = 0) -> None:
        super().__init__()
        if dim < 1:
            raise ValueError(f"dim must be positive, got {dim}")
        if context_dim < 0:
            raise ValueError(
                f"context_dim must be non-negative, got {context_dim}")
        self.dim = dim
        self.context_dim = context_dim

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        raise NotImplementedError

    def check(self, x: Tensor,
              context: Optional[Tensor]) -> Tuple[Tensor, torch.Size]:
        r"""Validates the widths of :obj:`x` and :obj:`context`; returns the
        context (:obj:`None` for a layer without context) and the batch
        shape of the output."""
        if x.size(-1) != self.dim:
            raise ValueError(f"{self.__class__.__name__} expects inputs of "
                             f"width {self.dim}, got {x.size(-1)}")
        if context is not None and context.size(-1) != self.context_dim:
            raise ValueError(f"{self.__class__.__name__} expects context "
                             f"vectors of width {self.context_dim}, got "
                             f"{context.size(-1)}")
        if context is None and self.context_dim > 0:
            raise ValueError(f"{self.__class__.__name__} needs a context of "
                             f"width {self.context_dim}, got None")
        if self.context_dim == 0:
            context = None
        try:
            shape = _batch_shape(x, context)
        except RuntimeError as error:
            raise ValueError(
                f"{self.__class__.__name__}: the batch shapes of the inputs "
                f"{list(x.shape[:-1])} and of the context "
                f"{list(context.shape[:-1])} do not broadcast") from error
        return context, shape

    def forward(self, x: Tensor,
                context: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        r"""Applies the map.

        Args:
            x (torch.Tensor): Inputs :math:`(*_x, k)`.
            context (torch.Tensor, optional): Contexts :math:`(*_c, c)`.
                (default: :obj:`None`)

        :rtype: (:class:`torch.Tensor` :math:`(*, k)`,
            :class:`torch.Tensor` :math:`(*)`)
        """
        raise NotImplementedError

    def inverse(self, y: Tensor,
                context: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        r"""Applies the inverse map; the log-determinant returned is the
        inverse's, the negative of :meth:`forward`'s at the preimage."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f'{self.dim}, context_dim={self.context_dim}'


class InvertibleSequential(InvertibleModule):
    r"""A composition :math:`f = f_L \circ \dots \circ f_1` of invertible
    layers, all given the same context: the log-determinants add up
    (chain rule), and the inverse applies the inverses in reverse order

    .. math::
        \log \left| \det \frac{\partial f(\mathbf{x})}{\partial \mathbf{x}}
        \right| = \sum_{l=1}^{L} \log \left| \det
        \frac{\partial f_l(\mathbf{x}_{l-1})}{\partial \mathbf{x}_{l-1}}
        \right|, \qquad f^{-1} = f_1^{-1} \circ \dots \circ f_L^{-1}.

    Args:
        *layers (InvertibleModule): The layers, of equal :obj:`dim` and
            :obj:`context_dim`.

    Shapes:
        - **input:** :math:`(*_x, k)`, context :math:`(*_c, c)`
        - **output:** :math:`(*, k)`, log-determinant :math:`(*)`
    """
    def __init__(self, *layers: InvertibleModule) -> None:
        if len(layers) == 0:
            raise ValueError("InvertibleSequential needs at least one layer")
        dims = {(layer.dim, layer.context_dim) for layer in layers}
        if len(dims) != 1:
            raise ValueError(f"The layers of an InvertibleSequential must "
                             f"share dim and context_dim, got {sorted(dims)}")
        super().__init__(layers[0].dim, layers[0].context_dim)
        self.layers = torch.nn.ModuleList(layers)

    def reset_parameters(self) -> None:
        for layer in self.layers:
            layer.reset_parameters()

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, index: int) -> InvertibleModule:
        return self.layers[index]

    def _run(self, x: Tensor, context: Optional[Tensor],
             layers: Sequence[InvertibleModule],
             inverse: bool) -> Tuple[Tensor, Tensor]:
        context, shape = self.check(x, context)
        total = x.new_zeros(()).expand(shape)
        for layer in layers:
            x, logdet = layer.inverse(x, context) if inverse else layer(
                x, context)
            total = total + logdet
        return x, total

    def forward(self, x: Tensor,
                context: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        return self._run(x, context, list(self.layers), inverse=False)

    def inverse(self, y: Tensor,
                context: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        return self._run(y, context, list(self.layers)[::-1], inverse=True)

    def __repr__(self) -> str:
        inner = ''.join(f'\n  {layer}' for layer in self.layers)
        return f'{self.__class__.__name__}({inner}\n)'


class MLPConditioner(torch.nn.Module):
    r"""The conditioner of a coupling layer as a one-hidden-layer MLP on the
    concatenation :math:`[\mathbf{x}_a, \mathbf{c}]`

    .. math::
        \mathbf{W}_2 \, \mathrm{SiLU}(\mathbf{W}_x \mathbf{x}_a +
        \mathbf{W}_c \mathbf{c} + \mathbf{b}_1) + \mathbf{b}_2,

    the first layer split into its :math:`\mathbf{x}_a` and
    :math:`\mathbf{c}` columns so that the two halves broadcast against each
    other instead of being concatenated per sample. The output layer starts
    at zero, so a coupling layer starts as the identity (as in Glow).

    Args:
        in_dim (int): Width of :math:`\mathbf{x}_a`.
        context_dim (int): Width of :math:`\mathbf{c}` (:obj:`0`: none).
        hidden (int): Hidden width.
        out_dim (int): Output width.

    Shapes:
        - **input:** :math:`(*_x, \text{in_dim})`, context :math:`(*_c, c)`
        - **output:** :math:`(*, \text{out_dim})`
    """
    def __init__(self, in_dim: int, context_dim: int, hidden: int,
                 out_dim: int) -> None:
        super().__init__()
        self.in_dim, self.context_dim = in_dim, context_dim
        self.hidden, self.out_dim = hidden, out_dim
        self.lin_x = Linear(in_dim, hidden)
        self.lin_c = Linear(context_dim, hidden, bias=False) \
            if context_dim > 0 else None
        self.lin_out = Linear(hidden, out_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        self.lin_x.reset_parameters()
        if self.lin_c is not None:
            self.lin_c.reset_parameters()
        torch.nn.init.zeros_(self.lin_out.weight)
        torch.nn.init.zeros_(self.lin_out.bias)

    def forward(self, x: Tensor, context: Optional[Tensor]) -> Tensor:
        h = self.lin_x(x)
        if self.lin_c is not None:
            h = h + self.lin_c(context)
        return self.lin_out(F.silu(h))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_dim} + '
                f'{self.context_dim} -> {self.hidden} -> {self.out_dim})')


class HyperConditioner(torch.nn.Module):
    r"""The conditioner of a coupling layer as a small MLP whose weights are
    a linear function of the context (a hypernetwork, Ha et al., 2017,
    `arXiv:1609.09106 <https://arxiv.org/abs/1609.09106>`_): every relation
    gets its own conditioner

    .. math::
        \mathbf{W}_2(\mathbf{c}) \, \mathrm{SiLU}(\mathbf{W}_1(\mathbf{c})
        \mathbf{x}_a + \mathbf{b}_1(\mathbf{c})) + \mathbf{b}_2(\mathbf{c}),
        \qquad [\mathrm{vec}\,\mathbf{W}_1, \mathbf{b}_1,
        \mathrm{vec}\,\mathbf{W}_2, \mathbf{b}_2](\mathbf{c}) = \mathbf{A}
        \mathbf{c} + \mathbf{a}.

    The weights are generated once per context vector and applied with
    broadcasting batched products (:func:`torch.einsum`), never per sample
    in a Python loop. The context enters scaled by :math:`1 / \sqrt{c}`,
    which keeps the generated weights from moving :math:`\sqrt{c}` times
    faster than ordinary weights under Adam; the generated output layer
    starts at zero.

    Args:
        in_dim (int): Width of :math:`\mathbf{x}_a`.
        context_dim (int): Width of :math:`\mathbf{c}` (positive).
        hidden (int): Hidden width.
        out_dim (int): Output width.

    Shapes:
        - **input:** :math:`(*_x, \text{in_dim})`, context :math:`(*_c, c)`
        - **output:** :math:`(*, \text{out_dim})`
    """
    def __init__(self, in_dim: int, context_dim: int, hidden: int,
                 out_dim: int) -> None:
        super().__init__()
        if context_dim < 1:
            raise ValueError("A hypernetwork conditioner needs a context "
                             f"(context_dim > 0), got {context_dim}")
        self.in_dim, self.context_dim = in_dim, context_dim
        self.hidden, self.out_dim = hidden, out_dim
        self.sizes = [in_dim * hidden, hidden, hidden * out_dim, out_dim]
        self.generator = Linear(context_dim, sum(self.sizes))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module: the generated
        first layer has the scale of :class:`torch.nn.Linear`'s
        initialisation, split between the shared part and the
        context-dependent part; the generated output layer is zero."""
        first = self.sizes[0] + self.sizes[1]
        bound = 1 / math.sqrt(self.in_dim)
        with torch.no_grad():
            torch.nn.init.uniform_(self.generator.bias[:first], -bound, bound)
            torch.nn.init.uniform_(self.generator.weight[:first], -bound,
                                   bound)
            self.generator.bias[first:].zero_()
            self.generator.weight[first:].zero_()

    def forward(self, x: Tensor, context: Tensor) -> Tensor:
        w1, b1, w2, b2 = self.generator(
            context / math.sqrt(self.context_dim)).split(self.sizes, dim=-1)
        lead = context.shape[:-1]
        w1 = w1.view(*lead, self.in_dim, self.hidden)
        w2 = w2.view(*lead, self.hidden, self.out_dim)
        h = F.silu(torch.einsum('...i,...ih->...h', x, w1) + b1)
        return torch.einsum('...h,...ho->...o', h, w2) + b2

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.context_dim} -> '
                f'[{self.in_dim} -> {self.hidden} -> {self.out_dim}])')


class CouplingLayer(InvertibleModule):
    r"""An additive coupling layer from the `"NICE: Non-linear Independent
    Components Estimation" <https://arxiv.org/abs/1410.8516>`_ paper or an
    affine coupling layer from the `"Density estimation using Real NVP"
    <https://arxiv.org/abs/1605.08803>`_ paper, conditioned on a context
    :math:`\mathbf{c}`. The coordinates are split into a part
    :math:`\mathbf{x}_a` that passes through and a part :math:`\mathbf{x}_b`
    that is transformed given :math:`\mathbf{x}_a` and :math:`\mathbf{c}`:

    .. math::
        \mathbf{y}_a = \mathbf{x}_a, \qquad
        \mathbf{y}_b = \mathbf{x}_b \odot \exp(\mathbf{s}) + \mathbf{t},
        \qquad (\mathbf{s}, \mathbf{t}) = g(\mathbf{x}_a, \mathbf{c}),
        \qquad \log |\det J| = \textstyle\sum_i s_i,

    with :math:`\mathbf{s} = \mathbf{0}` (volume preserving) for the
    additive layer, and for the affine one the log-scale bounded by a soft
    clamp, :math:`\mathbf{s} = b \tanh(\tilde{\mathbf{s}} / b)`, which keeps
    training stable. The inverse is :math:`\mathbf{x}_b = (\mathbf{y}_b -
    \mathbf{t}) \odot \exp(-\mathbf{s})`. The split is given by a
    permutation of the coordinates (the first :math:`\lfloor k / 2
    \rfloor` form :math:`\mathbf{x}_a`, or the rest when :obj:`swap`), e.g.
    the identity with :obj:`swap` alternating from layer to layer, or a
    fixed random permutation; it is stored as buffers.

    Args:
        dim (int): Width :math:`k \geq 2`.
        context_dim (int, optional): Width of the context. (default:
            :obj:`0`)
        transform (str, optional): :obj:`"additive"` or :obj:`"affine"`.
            (default: :obj:`"affine"`)
        conditioner (str, optional): :obj:`"mlp"` (:class:`MLPConditioner`)
            or :obj:`"hyper"` (:class:`HyperConditioner`). (default:
            :obj:`"mlp"`)
        hidden (int, optional): Hidden width of the conditioner. (default:
            :obj:`64`)
        permutation (torch.Tensor, optional): The order of the coordinates
            before the split. (default: the identity)
        swap (bool, optional): Whether the second part conditions the
            first. (default: :obj:`False`)
        log_scale_bound (float, optional): The bound :math:`b` of the affine
            log-scales. (default: :obj:`2.0`)

    Shapes:
        - **input:** :math:`(*_x, k)`, context :math:`(*_c, c)`
        - **output:** :math:`(*, k)`, log-determinant :math:`(*)`
    """
    def __init__(self, dim: int, context_dim: int = 0,
                 transform: str = 'affine', conditioner: str = 'mlp',
                 hidden: int = 64, permutation: Optional[Tensor] = None,
                 swap: bool = False, log_scale_bound: float = 2.0) -> None:
        super().__init__(dim, context_dim)
        if dim < 2:
            raise ValueError(f"A coupling layer needs dim >= 2, got {dim}")
        if transform not in ('additive', 'affine'):
            raise ValueError(f"Unknown transform {transform!r} (expected "
                             f"'additive' or 'affine')")
        if conditioner not in ('mlp', 'hyper'):
            raise ValueError(f"Unknown conditioner {conditioner!r} "
                             f"(expected 'mlp' or 'hyper')")
        if log_scale_bound <= 0:
            raise ValueError(
                f"log_scale_bound must be positive, got {log_scale_bound}")
        order = torch.arange(dim) if permutation is None else \
            torch.as_tensor(permutation, dtype=torch.long)
        if not torch.equal(order.sort().values, torch.arange(dim)):
            raise ValueError(f"permutation must be a permutation of "
                             f"range({dim}), got {order.tolist()}")
        first, second = order[:dim // 2], order[dim // 2:]
        index_a, index_b = (second, first) if swap else (first, second)
        self.register_buffer('index_a', index_a.clone())
        self.register_buffer('index_b', index_b.clone())
        self.register_buffer('index_out',
                             torch.argsort(torch.cat([index_a, index_b])))
        self.transform = transform
        self.conditioner_kind = conditioner
        self.hidden = hidden
        self.swap = swap
        self.log_scale_bound = log_scale_bound
        size_b = index_b.numel()
        out = 2 * size_b if transform == 'affine' else size_b
        cls = MLPConditioner if conditioner == 'mlp' else HyperConditioner
        self.conditioner = cls(index_a.numel(), context_dim, hidden, out)

    def reset_parameters(self) -> None:
        self.conditioner.reset_parameters()

    def _params(self, x_a: Tensor,
                context: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
        out = self.conditioner(x_a, context)
        if self.transform == 'additive':
            return out.new_zeros(()).expand(out.shape), out
        raw, shift = out.chunk(2, dim=-1)
        return soft_clamp(raw, self.log_scale_bound), shift

    def _couple(self, x: Tensor, context: Optional[Tensor],
                inverse: bool) -> Tuple[Tensor, Tensor]:
        context, shape = self.check(x, context)
        x_a = x.index_select(-1, self.index_a)
        x_b = x.index_select(-1, self.index_b)
        log_scale, shift = self._params(x_a, context)
        if self.transform == 'additive':
            y_b = x_b - shift if inverse else x_b + shift
            logdet = x.new_zeros(()).expand(shape)
        elif inverse:
            y_b = (x_b - shift) * torch.exp(-log_scale)
            logdet = -log_scale.sum(dim=-1)
        else:
            y_b = x_b * torch.exp(log_scale) + shift
            logdet = log_scale.sum(dim=-1)
        y_b = y_b.expand(*shape, y_b.size(-1))
        x_a = x_a.expand(*shape, x_a.size(-1))
        y = torch.cat([x_a, y_b], dim=-1).index_select(-1, self.index_out)
        return y, logdet.expand(shape)

    def forward(self, x: Tensor,
                context: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        return self._couple(x, context, inverse=False)

    def inverse(self, y: Tensor,
                context: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        return self._couple(y, context, inverse=True)

    def extra_repr(self) -> str:
        return (f'{self.dim}, context_dim={self.context_dim}, '
                f'transform={self.transform!r}, '
                f'conditioner={self.conditioner_kind!r}, '
                f'hidden={self.hidden}, swap={self.swap}')

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.extra_repr()})'


class InvertibleLinear(InvertibleModule):
    r"""An invertible linear layer in the LU parameterisation of the
    `"Glow: Generative Flow with Invertible 1x1 Convolutions"
    <https://arxiv.org/abs/1807.03039>`_ paper

    .. math::
        \mathbf{y} = \mathbf{P} \mathbf{L} (\mathbf{U} +
        \mathrm{diag}(\boldsymbol{\sigma} \odot e^{\mathbf{s}})) \mathbf{x}
        + \mathbf{b}, \qquad \log |\det J| = \textstyle\sum_i s_i,

    with :math:`\mathbf{P}` a fixed permutation, :math:`\mathbf{L}` unit
    lower triangular, :math:`\mathbf{U}` strictly upper triangular,
    :math:`\boldsymbol{\sigma}` fixed signs and :math:`\mathbf{s}` learned
    log-scales; initialised, as in Glow, from the LU decomposition of a
    random rotation. The inverse uses triangular solves computed once per
    context vector (or once when the layer is shared).

    With :obj:`relation_specific=True` the triangular entries, log-scales and
    bias are shared values plus a linear function of the context scaled by
    :math:`1 / \sqrt{c}` (initially zero; the log-scale term bounded by a
    soft clamp at :obj:`log_scale_bound`), so that every relation has its
    own invertible matrix.

    Args:
        dim (int): Width :math:`k`.
        context_dim (int, optional): Width of the context. (default:
            :obj:`0`)
        relation_specific (bool, optional): Whether the matrix depends on
            the context. (default: :obj:`False`)
        bias (bool, optional): Whether to add a bias :math:`\mathbf{b}`.
            (default: :obj:`True`)
        log_scale_bound (float, optional): The bound of the
            relation-specific log-scale term. (default: :obj:`2.0`)

    Shapes:
        - **input:** :math:`(*_x, k)`, context :math:`(*_c, c)`
        - **output:** :math:`(*, k)`, log-determinant :math:`(*)`
    """
    def __init__(self, dim: int, context_dim: int = 0,
                 relation_specific: bool = False, bias: bool = True,
                 log_scale_bound: float = 2.0) -> None:
        super().__init__(dim, context_dim)
        if relation_specific and context_dim < 1:
            raise ValueError("A relation-specific InvertibleLinear needs a "
                             f"context (context_dim > 0), got {context_dim}")
        self.relation_specific = relation_specific
        self.log_scale_bound = log_scale_bound
        self.register_buffer('permutation', torch.eye(dim))
        self.register_buffer('sign', torch.ones(dim))
        # Strictly lower entries hold L, strictly upper ones U.
        self.triangular = Parameter(torch.empty(dim, dim))
        self.log_scale = Parameter(torch.empty(dim))
        if bias:
            self.bias = Parameter(torch.empty(dim))
        else:
            self.register_parameter('bias', None)
        self.hyper = Linear(context_dim, dim * dim + 2 * dim) \
            if relation_specific else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        dim = self.dim
        with torch.no_grad():
            weight = torch.linalg.qr(torch.randn(dim, dim,
                                                 dtype=torch.float64))[0]
            p, lower, upper = torch.linalg.lu(weight)
            diag = torch.diagonal(upper)
            self.permutation.copy_(p)
            self.sign.copy_(torch.sign(diag))
            self.log_scale.copy_(diag.abs().log())
            self.triangular.copy_(torch.tril(lower, -1) + torch.triu(upper, 1))
            if self.bias is not None:
                self.bias.zero_()
            if self.hyper is not None:
                self.hyper.weight.zero_()
                self.hyper.bias.zero_()

    def _factors(self, context: Optional[Tensor]) \
            -> Tuple[Tensor, Tensor, Tensor, Optional[Tensor]]:
        # L, U (diagonal included), log-scales, bias: [*_c, ...] or shared.
        k = self.dim
        tri, log_scale, bias = self.triangular, self.log_scale, self.bias
        if self.hyper is not None:
            d_tri, d_scale, d_bias = self.hyper(
                context / math.sqrt(self.context_dim)).split([k * k, k, k],
                                                             dim=-1)
            tri = tri + d_tri.view(*context.shape[:-1], k, k)
            log_scale = log_scale + soft_clamp(d_scale, self.log_scale_bound)
            bias = d_bias if bias is None else bias + d_bias
        eye = torch.eye(k, dtype=tri.dtype, device=tri.device)
        lower = torch.tril(tri, -1) + eye
        upper = torch.triu(tri, 1) + torch.diag_embed(
            self.sign * torch.exp(log_scale))
        return lower, upper, log_scale, bias

    def weight(self, context: Optional[Tensor] = None) -> Tensor:
        r"""The matrix :math:`\mathbf{P}\mathbf{L}\mathbf{U}`, :math:`(*_c,
        k, k)` (or :math:`(k, k)` when shared)."""
        lower, upper, _, _ = self._factors(context)
        return self.permutation @ lower @ upper

    def forward(self, x: Tensor,
                context: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        context, shape = self.check(x, context)
        lower, upper, log_scale, bias = self._factors(context)
        weight = self.permutation @ lower @ upper
        y = torch.einsum('...ij,...j->...i', weight, x)
        if bias is not None:
            y = y + bias
        logdet = log_scale.sum(dim=-1)
        return y.expand(*shape, self.dim), logdet.expand(shape)

    def inverse(self, y: Tensor,
                context: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        context, shape = self.check(y, context)
        lower, upper, log_scale, bias = self._factors(context)
        eye = torch.eye(self.dim, dtype=lower.dtype, device=lower.device)
        lower_inv = torch.linalg.solve_triangular(lower, eye, upper=False,
                                                  unitriangular=True)
        upper_inv = torch.linalg.solve_triangular(upper, eye, upper=True)
        weight_inv = upper_inv @ lower_inv @ self.permutation.t()
        if bias is not None:
            y = y - bias
        x = torch.einsum('...ij,...j->...i', weight_inv, y)
        logdet = -log_scale.sum(dim=-1)
        return x.expand(*shape, self.dim), logdet.expand(shape)

    def extra_repr(self) -> str:
        return (f'{self.dim}, context_dim={self.context_dim}, '
                f'relation_specific={self.relation_specific}, '
                f'bias={self.bias is not None}')

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.extra_repr()})'


class ConditionalAffine(InvertibleModule):
    r"""An elementwise affine map whose scales and shifts are a linear
    function of the context (a conditional version of the affine layers of
    the flows reviewed by Papamakarios et al., 2021)

    .. math::
        \mathbf{y} = \mathbf{x} \odot \exp(\mathbf{s}(\mathbf{c})) +
        \mathbf{t}(\mathbf{c}), \qquad [\tilde{\mathbf{s}}, \mathbf{t}] =
        \mathbf{A} \mathbf{c} + \mathbf{a}, \qquad \mathbf{s} = b
        \tanh(\tilde{\mathbf{s}} / b),

    so a flow can translate and rescale per relation (TransE's translation
    is the special case :math:`\mathbf{s} = \mathbf{0}`). Starts as the
    identity.

    Args:
        dim (int): Width :math:`k`.
        context_dim (int): Width of the context (positive).
        log_scale_bound (float, optional): The bound :math:`b`. (default:
            :obj:`2.0`)

    Shapes:
        - **input:** :math:`(*_x, k)`, context :math:`(*_c, c)`
        - **output:** :math:`(*, k)`, log-determinant :math:`(*)`
    """
    def __init__(self, dim: int, context_dim: int,
                 log_scale_bound: float = 2.0) -> None:
        super().__init__(dim, context_dim)
        if context_dim < 1:
            raise ValueError("ConditionalAffine needs a context "
                             f"(context_dim > 0), got {context_dim}")
        self.log_scale_bound = log_scale_bound
        self.lin = Linear(context_dim, 2 * dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        torch.nn.init.zeros_(self.lin.weight)
        torch.nn.init.zeros_(self.lin.bias)

    def _params(self, context: Tensor) -> Tuple[Tensor, Tensor]:
        raw, shift = self.lin(context).chunk(2, dim=-1)
        return soft_clamp(raw, self.log_scale_bound), shift

    def forward(self, x: Tensor,
                context: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        context, shape = self.check(x, context)
        log_scale, shift = self._params(context)
        y = x * torch.exp(log_scale) + shift
        return y.expand(*shape, self.dim), log_scale.sum(-1).expand(shape)

    def inverse(self, y: Tensor,
                context: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        context, shape = self.check(y, context)
        log_scale, shift = self._params(context)
        x = (y - shift) * torch.exp(-log_scale)
        return x.expand(*shape, self.dim), -log_scale.sum(-1).expand(shape)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.dim}, '
                f'context_dim={self.context_dim})')


class RelationFlow(InvertibleSequential):
    r"""A stack of relation-conditioned flow layers for
    :class:`~pyg_kgc.nn.kge.INNDecoder`: :obj:`num_layers` blocks, each an
    optional :class:`InvertibleLinear` (Glow's LU layer, shared or
    relation-specific) followed by a :class:`CouplingLayer` (NICE's
    additive or RealNVP's affine coupling, with an MLP or hypernetwork
    conditioner), and an optional final :class:`ConditionalAffine`

    .. math::
        f_{\mathbf{c}} = a_{\mathbf{c}} \circ g_{\mathbf{c}}^{(L)} \circ
        W^{(L)} \circ \dots \circ g_{\mathbf{c}}^{(1)} \circ W^{(1)}.

    Coupling layers split the coordinates in halves swapped from one
    layer to the next (:obj:`split="alternate"`) or along fixed random
    permutations drawn from :obj:`seed` (:obj:`split="random"`).

    Args:
        dim (int): Width :math:`k \geq 2`.
        context_dim (int): Width of the context.
        num_layers (int, optional): Number of coupling layers. (default:
            :obj:`4`)
        coupling (str, optional): :obj:`"additive"` or :obj:`"affine"`.
            (default: :obj:`"affine"`)
        conditioner (str, optional): :obj:`"mlp"` or :obj:`"hyper"`.
            (default: :obj:`"mlp"`)
        hidden (int, optional): Hidden width of the conditioners.
            (default: :obj:`64`)
        split (str, optional): :obj:`"alternate"` or :obj:`"random"`.
            (default: :obj:`"alternate"`)
        linear (str, optional): The LU layers: :obj:`"none"`,
            :obj:`"shared"` or :obj:`"relation"`. (default: :obj:`"none"`)
        elementwise (bool, optional): Whether to end with a
            :class:`ConditionalAffine`. (default: :obj:`True`)
        log_scale_bound (float, optional): Bound of the log-scales.
            (default: :obj:`2.0`)
        seed (int, optional): Seed of the random permutations. (default:
            :obj:`0`)

    Shapes:
        - **input:** :math:`(*_x, k)`, context :math:`(*_c, c)`
        - **output:** :math:`(*, k)`, log-determinant :math:`(*)`
    """
    def __init__(self, dim: int, context_dim: int, num_layers: int = 4,
                 coupling: str = 'affine', conditioner: str = 'mlp',
                 hidden: int = 64, split: str = 'alternate',
                 linear: str = 'none', elementwise: bool = True,
                 log_scale_bound: float = 2.0, seed: int = 0) -> None:
        if split not in ('alternate', 'random'):
            raise ValueError(f"Unknown split {split!r} (expected "
                             f"'alternate' or 'random')")
        if linear not in ('none', 'shared', 'relation'):
            raise ValueError(f"Unknown linear {linear!r} (expected 'none', "
                             f"'shared' or 'relation')")
        if num_layers < 0:
            raise ValueError(
                f"num_layers must be non-negative, got {num_layers}")
        layers = []
        for i in range(num_layers):
            if linear != 'none':
                layers.append(
                    InvertibleLinear(dim, context_dim, linear == 'relation',
                                     log_scale_bound=log_scale_bound))
            if split == 'random':
                gen = torch.Generator().manual_seed(seed + i)
                permutation, swap = torch.randperm(dim, generator=gen), False
            else:
                permutation, swap = None, i % 2 == 1
            layers.append(
                CouplingLayer(dim, context_dim, coupling, conditioner, hidden,
                              permutation, swap, log_scale_bound))
        if elementwise:
            layers.append(ConditionalAffine(dim, context_dim, log_scale_bound))
        if len(layers) == 0:
            raise ValueError("RelationFlow needs num_layers > 0 or "
                             "elementwise=True")
        super().__init__(*layers)
        self.config = dict(num_layers=num_layers, coupling=coupling,
                           conditioner=conditioner, hidden=hidden, split=split,
                           linear=linear, elementwise=elementwise)

    def __repr__(self) -> str:
        options = ', '.join(f'{k}={v!r}' for k, v in self.config.items())
        return (f'{self.__class__.__name__}({self.dim}, '
                f'context_dim={self.context_dim}, {options})')
