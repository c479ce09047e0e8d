"""Keep old call forms working while the grammar moves on: one helper, one warning.

The API grammar makes options keyword-only (``k``, ``needs``, ``limit_s``...). Where an
earlier release took one positionally, :func:`keyword_only` still accepts it that way,
with a :class:`DeprecationWarning` that names the keyword to write instead. Results are
frozen dataclasses; those that were named tuples still unpack, warning through
:func:`warn_unpacked`.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["keyword_only", "warn_unpacked"]

F = TypeVar("F", bound=Callable[..., Any])


def keyword_only(*names: str, after: int) -> Callable[[F], F]:
    """Accept ``names`` positionally after ``after`` positional arguments, with a warning.

    Parameters
    ----------
    names
        The keyword-only parameters an old call gave positionally, in their old order.
    after
        How many positional arguments the new signature takes (``self`` included).

    Examples
    --------
    >>> @keyword_only("k", after=2)
    ... def nearest(lat, lng, *, k):
    ...     return k
    >>> nearest(1.0, 2.0, k=3)
    3
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     nearest(1.0, 2.0, 3), str(caught[0].message)
    (3, 'nearest(): pass k as a keyword (k=...); positionally it is deprecated')
    """

    def wrap(func: F) -> F:
        @functools.wraps(func)
        def call(*args: Any, **kwargs: Any) -> Any:
            extra = args[after:]
            if extra:
                if len(extra) > len(names):
                    msg = (
                        f"{func.__name__}() takes {after} positional arguments "
                        f"but {len(args)} were given"
                    )
                    raise TypeError(msg)
                given = names[: len(extra)]
                twice = [n for n in given if n in kwargs]
                if twice:
                    msg = f"{func.__name__}() got multiple values for argument {twice[0]!r}"
                    raise TypeError(msg)
                shown = ", ".join(f"{n}=..." for n in given)
                warnings.warn(
                    f"{func.__name__}(): pass {', '.join(given)} as a keyword ({shown}); "
                    "positionally it is deprecated",
                    DeprecationWarning,
                    stacklevel=2,
                )
                kwargs.update(zip(given, extra, strict=True))
                args = args[:after]
            return func(*args, **kwargs)

        return call  # type: ignore[return-value]

    return wrap


def warn_unpacked(kind: str, fields: tuple[str, ...]) -> None:
    """Warn that a result which was a named tuple is being unpacked as one."""
    names = ", ".join(f".{f}" for f in fields)
    msg = f"unpacking a {kind} as a tuple is deprecated; read its fields ({names})"
    warnings.warn(msg, DeprecationWarning, stacklevel=3)
