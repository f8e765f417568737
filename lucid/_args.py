"""Argument conventions shared by ops and Tensor methods."""

import functools

_ALIASES = (("axis", "dim"), ("keepdims", "keepdim"))


def dim_aliases(fn):
    """Accept numpy's ``axis=``/``keepdims=`` as aliases of ``dim=``/``keepdim=``, as PyTorch's
    reductions do (``torch.sum(x, axis=0, keepdims=True)`` works)."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        for alias, name in _ALIASES:
            if alias in kwargs:
                if name in kwargs:
                    raise TypeError(f"{fn.__name__}() got both {name}= and its alias {alias}=")
                kwargs[name] = kwargs.pop(alias)
        return fn(*args, **kwargs)

    run.dim_aliases = True
    return run
