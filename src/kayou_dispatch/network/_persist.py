"""Save the structures the query path needs beside a network, so a loaded one ranks at once.

:meth:`~kayou_dispatch.network.RoadNetwork.save` writes, next to the graph's own arrays,
the arrays of every derived structure built from them (edge twins, sparse graphs, the
snapping grid, the node grid): ``derived/<structure>/<attribute>`` entries of the same
``.npz``. Building them takes seconds to minutes on millions of nodes; reading them back
takes what reading arrays takes.

A structure is plain data: its numpy arrays, numbers and nested structures (dumped
recursively) and scipy sparse matrices (dumped as their three arrays). What it builds
lazily later or holds at run time (locks, scratch arrays, views of
its own arrays; a class names such attributes in ``RUNTIME_FIELDS``) is recreated by its
``_runtime()`` method or on first use, never saved.

The derived arrays carry a fingerprint of the graph they were built from (a BLAKE2 hash
of every graph array, the format versions included): a file whose derived part does not
match its graph (edited by hand, written by another version) is refused with
:class:`~kayou_dispatch.errors.NetworkLoadError`, never used to give a wrong answer.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix

__all__ = ["DERIVED_VERSION", "dump", "fingerprint", "narrow", "restore"]

#: Version of the derived structures' layout; a change makes old files rebuild (refused).
DERIVED_VERSION = 7
_CSR = "__csr__"
_REF = "__ref__"


def fingerprint(arrays: dict[str, NDArray[Any]], version: int) -> str:
    """Return a hash of the graph arrays (name, dtype, shape and bytes of each)."""
    h = hashlib.blake2b(digest_size=20)
    h.update(f"{version}/{DERIVED_VERSION}".encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes() if a.dtype.hasobject else a.view(np.uint8).data)
    return h.hexdigest()


def narrow(index: NDArray[np.integer[Any]]) -> NDArray[np.signedinteger[Any]]:
    """Return an index array as ``int32`` when every value fits (they are held and saved so).

    Indices into the network (nodes, edges, segments, points) fit in 32 bits below 2**31
    entries: half the bytes of ``int64`` for the derived arrays, which dominate a large
    network's memory. Callers that hand indices on cast them back where they must.
    """
    if index.size == 0 or (
        int(index.min()) >= np.iinfo(np.int32).min and int(index.max()) <= np.iinfo(np.int32).max
    ):
        return index.astype(np.int32)
    return index.astype(np.int64, copy=False)


def dump(
    obj: object,
    prefix: str,
    out: dict[str, NDArray[Any]],
    kinds: tuple[type, ...],
    shared: dict[str, NDArray[Any]] | None = None,
) -> None:
    """Add ``obj``'s plain-data attributes to ``out`` under ``prefix``.

    ``kinds`` are the structure classes that may nest (dumped recursively). An attribute
    that *is* one of the ``shared`` arrays (the graph's own, saved anyway) is written as a
    reference to it by name, and restored as that same array.
    """
    by_id = {id(a): name for name, a in (shared or {}).items()}
    out[f"{prefix}/__class__"] = np.array(type(obj).__name__)
    unsaved = getattr(type(obj), "RUNTIME_FIELDS", ())
    for name, value in vars(obj).items():
        if name in unsaved:
            continue
        key = f"{prefix}/{name}"
        if isinstance(value, np.ndarray) and id(value) in by_id:
            out[f"{key}/{_REF}"] = np.array(by_id[id(value)])
        elif isinstance(value, np.ndarray):
            out[key] = value
        elif isinstance(value, bool | int | float | np.number):
            out[key] = np.array(value)
        elif isinstance(value, csr_matrix):
            out[f"{key}/{_CSR}data"] = value.data
            out[f"{key}/{_CSR}indices"] = value.indices
            out[f"{key}/{_CSR}indptr"] = value.indptr
            out[f"{key}/{_CSR}shape"] = np.array(value.shape)
        elif isinstance(value, kinds):
            dump(value, key, out, kinds, shared)
        # Anything else (locks, lazily built trees, scratch space) is recreated, not saved.


def restore(
    cls: type[Any],
    prefix: str,
    data: dict[str, NDArray[Any]],
    kinds: tuple[type, ...],
    shared: dict[str, NDArray[Any]] | None = None,
) -> Any:
    """Rebuild an object of ``cls`` dumped under ``prefix`` (see :func:`dump`)."""
    obj = object.__new__(cls)
    by_name = {k.__name__: k for k in kinds}
    head = f"{prefix}/"
    names = {key[len(head) :].split("/", 1)[0] for key in data if key.startswith(head)}
    names.discard("__class__")
    for name in sorted(names):
        key = f"{prefix}/{name}"
        if key in data:
            value: Any = data[key]
            value = value[()] if value.ndim == 0 and value.dtype.kind in "biuf" else value
        elif f"{key}/{_REF}" in data:
            value = (shared or {})[str(data[f"{key}/{_REF}"])]
        elif f"{key}/{_CSR}data" in data:
            shape = tuple(int(x) for x in data[f"{key}/{_CSR}shape"])
            parts = (data[f"{key}/{_CSR}{part}"] for part in ("data", "indices", "indptr"))
            value = csr_matrix(tuple(parts), shape=shape)
        else:
            sub = str(data[f"{key}/__class__"])
            value = restore(by_name[sub], key, data, kinds, shared)
        setattr(obj, name, value)
    runtime = getattr(obj, "_runtime", None)
    if runtime is not None:
        runtime()
    return obj
