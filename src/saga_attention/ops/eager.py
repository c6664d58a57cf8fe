"""Eager twins of the ops' torch.library custom ops. Under torch.compile an op must be a custom op; in eager
mode an autograd.Function over the same launcher dispatches in a few microseconds where the custom op takes
tens, which matters at the small sizes where the host, not the GPU, sets the pace."""
from __future__ import annotations

from typing import Callable

import torch


def eager_function(name: str, forward: Callable, setup_context: Callable,
                   backward: Callable) -> type[torch.autograd.Function]:
    """An autograd.Function: forward(*inputs) -> output, then setup_context(ctx, inputs, output) as the custom
    op's register_autograd takes it; backward(ctx, *grad_outputs) -> one gradient (or None) per input."""
    def run(ctx, *inputs):
        output = forward(*inputs)
        setup_context(ctx, inputs, output)
        return output

    return type(name, (torch.autograd.Function,), {"forward": staticmethod(run), "backward": staticmethod(backward),
                                                   "__doc__": f"{forward.__name__} for eager calls."})


def op_for_mode(custom_op: Callable, eager: type[torch.autograd.Function]) -> Callable:
    """The custom op while torch.compile traces, the autograd.Function's apply otherwise."""
    return custom_op if torch.compiler.is_compiling() else eager.apply
