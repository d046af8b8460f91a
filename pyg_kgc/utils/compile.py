r"""Kernels built by :func:`torch.compile` on first use, with a fallback to
eager code when building or running them fails."""
import warnings
from typing import Callable, Tuple

import torch


class CompiledKernels:
    r"""A group of functions compiled together by :func:`torch.compile`
    (with :obj:`dynamic=True`: one build serves every shape) the first time
    :meth:`get` is called.

    Building needs a C++ compiler and takes seconds (cached by
    :func:`torch.compile` across processes). A caller runs the kernels in
    a :obj:`try` block and, on failure, calls :meth:`disable`, which warns
    once and sets :attr:`failed`; callers check :meth:`usable` and take
    their eager path from then on.

    Args:
        name (str): The name the warning gives (the public function or
            module that uses the kernels).
        *functions (callable): The functions to compile.
    """
    def __init__(self, name: str, *functions: Callable) -> None:
        if not functions:
            raise ValueError(f"{name}: no functions to compile")
        self.name = name
        self.sources = functions
        self.functions: Tuple[Callable, ...] = ()
        self.failed = False

    def usable(self, device: torch.device) -> bool:
        r"""Whether to try the kernels for tensors on :obj:`device`: on the
        CPU, unless they failed before or :func:`torch.compile` is already
        tracing the caller (which then compiles the eager code itself)."""
        return (device.type == 'cpu' and not self.failed
                and not torch.compiler.is_compiling())

    def get(self) -> Tuple[Callable, ...]:
        r"""The compiled functions, in the order given, built on first
        use."""
        if not self.functions:
            self.functions = tuple(
                torch.compile(function, dynamic=True)
                for function in self.sources)
        return self.functions

    def disable(self, error: Exception, stacklevel: int = 3) -> None:
        r"""Records that the kernels failed with :obj:`error` and warns."""
        self.failed = True
        warnings.warn(
            f"{self.name}: the torch.compile kernels failed "
            f"({type(error).__name__}: {error}); using the eager "
            f"implementation from now on", RuntimeWarning,
            stacklevel=stacklevel)

    def __repr__(self) -> str:
        state = 'failed' if self.failed else (
            'built' if self.functions else 'not built')
        return (f'{self.__class__.__name__}({self.name!r}, '
                f'{len(self.sources)} functions, {state})')
