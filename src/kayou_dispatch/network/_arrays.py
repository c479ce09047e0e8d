"""Hold a road network as plain numpy arrays, and save/load them as one ``.npz`` file.

:class:`EdgeArrays` is the one interchange format between the network sources (OSM
reader, synthetic regions, networkx graphs, the bundled default) and
:class:`~kayou_dispatch.network.RoadNetwork`. Nodes are dense indices ``0..n-1``;
``node_id`` keeps the source's ids (OSM node ids) for the edge of the API.
"""

from __future__ import annotations

import io
import json
import math
import mmap
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kayou_dispatch.errors import NetworkLoadError
from kayou_dispatch.network.profiles import HIGHWAY_CLASSES

__all__ = ["ARRAY_FIELDS", "EdgeArrays", "FORMAT_VERSION", "load_arrays", "save_arrays"]

#: Bumped whenever the saved layout changes; older files are refused with a clear error.
FORMAT_VERSION = 1

#: The array fields of :class:`EdgeArrays`, in file order.
ARRAY_FIELDS = (
    "node_id",
    "lat",
    "lng",
    "u",
    "v",
    "length_m",
    "travel_time_s",
    "highway",
    "geom_offsets",
    "geom_lat",
    "geom_lng",
)


@dataclass(frozen=True, eq=False)
class EdgeArrays:
    """A directed road graph as arrays (``n`` nodes, ``m`` edges, ``k`` shape points).

    Attributes
    ----------
    node_id : int64 (n,)
        The source's node ids (OSM ids), unique.
    lat, lng : float64 (n,)
        Node coordinates, WGS-84 degrees.
    u, v : int64 (m,)
        Edge tail and head as dense node indices. Parallel edges are allowed.
    length_m, travel_time_s : float64 (m,)
        Edge length and travel time, finite and ``>= 0``.
    highway : int8 (m,)
        Index into :data:`~kayou_dispatch.network.profiles.HIGHWAY_CLASSES`, ``-1`` if unknown.
    geom_offsets : int64 (m + 1,)
        Edge ``i``'s intermediate shape points (between ``u`` and ``v``, endpoints excluded)
        are ``geom_lat[geom_offsets[i]:geom_offsets[i + 1]]`` (same for ``geom_lng``).
        A straight edge has none.
    geom_lat, geom_lng : float64 (k,)
        Intermediate shape points of all edges, concatenated.
    meta : dict
        JSON-able provenance: ``source``, ``attribution``, ``profile``, ``dropped_nodes``...
    """

    node_id: NDArray[np.int64]
    lat: NDArray[np.float64]
    lng: NDArray[np.float64]
    u: NDArray[np.int64]
    v: NDArray[np.int64]
    length_m: NDArray[np.float64]
    travel_time_s: NDArray[np.float64]
    highway: NDArray[np.int8]
    geom_offsets: NDArray[np.int64]
    geom_lat: NDArray[np.float64]
    geom_lng: NDArray[np.float64]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.lat.shape[0])

    @property
    def n_edges(self) -> int:
        """Number of directed edges."""
        return int(self.u.shape[0])

    def subset(
        self,
        keep_node: NDArray[np.bool_],
        keep_edge: NDArray[np.bool_],
        *,
        meta: dict[str, Any] | None = None,
    ) -> EdgeArrays:
        """Return the arrays of these nodes and edges (every kept edge's ends must be kept).

        Nodes are renumbered in their order; each kept edge keeps its shape points.
        ``meta`` replaces the metadata (a copy of this one's by default).

        Examples
        --------
        >>> a = EdgeArrays.straight(node_id=[10, 11, 12], lat=[0.0] * 3,
        ...                         lng=[0.0, 0.001, 0.002], u=[0, 1], v=[1, 2],
        ...                         length_m=[111.2] * 2, travel_time_s=[10.0] * 2)
        >>> b = a.subset(np.array([False, True, True]), np.array([False, True]))
        >>> b.node_id.tolist(), b.u.tolist(), b.v.tolist()
        ([11, 12], [0], [1])
        """
        new_index = np.cumsum(keep_node) - 1
        off = self.geom_offsets
        counts = np.diff(off)[keep_edge]
        shape_keep = np.repeat(keep_edge, np.diff(off))
        new_off = np.zeros(int(keep_edge.sum()) + 1, dtype=np.int64)
        np.cumsum(counts, out=new_off[1:])
        return EdgeArrays(
            node_id=self.node_id[keep_node],
            lat=self.lat[keep_node],
            lng=self.lng[keep_node],
            u=new_index[self.u[keep_edge]],
            v=new_index[self.v[keep_edge]],
            length_m=self.length_m[keep_edge],
            travel_time_s=self.travel_time_s[keep_edge],
            highway=self.highway[keep_edge],
            geom_offsets=new_off,
            geom_lat=self.geom_lat[shape_keep],
            geom_lng=self.geom_lng[shape_keep],
            meta=dict(self.meta) if meta is None else meta,
        )

    @classmethod
    def straight(
        cls,
        *,
        node_id: Any,
        lat: Any,
        lng: Any,
        u: Any,
        v: Any,
        length_m: Any,
        travel_time_s: Any,
        highway: Any = None,
        meta: dict[str, Any] | None = None,
    ) -> EdgeArrays:
        """Build arrays for a graph whose edges are all straight segments.

        Examples
        --------
        >>> a = EdgeArrays.straight(node_id=[10, 11], lat=[0.0, 0.0], lng=[0.0, 0.001],
        ...                         u=[0], v=[1], length_m=[111.2], travel_time_s=[10.0])
        >>> a.n_nodes, a.n_edges
        (2, 1)
        """
        m = len(u)
        hw = np.full(m, -1, dtype=np.int8) if highway is None else highway
        arrays = cls(
            node_id=np.asarray(node_id, dtype=np.int64),
            lat=np.asarray(lat, dtype=np.float64),
            lng=np.asarray(lng, dtype=np.float64),
            u=np.asarray(u, dtype=np.int64),
            v=np.asarray(v, dtype=np.int64),
            length_m=np.asarray(length_m, dtype=np.float64),
            travel_time_s=np.asarray(travel_time_s, dtype=np.float64),
            highway=np.asarray(hw, dtype=np.int8),
            geom_offsets=np.zeros(m + 1, dtype=np.int64),
            geom_lat=np.zeros(0, dtype=np.float64),
            geom_lng=np.zeros(0, dtype=np.float64),
            meta=dict(meta or {}),
        )
        arrays.validate()
        return arrays

    def validate(self, source: Any = None) -> None:
        """Check shapes, dtypes, index ranges and finiteness.

        Raises
        ------
        NetworkLoadError
            Naming the first inconsistency found.
        """

        def fail(what: str) -> None:
            raise NetworkLoadError(f"invalid road network arrays: {what}", source=source)

        n, m = self.lat.shape[0], self.u.shape[0]
        for name in ("node_id", "lat", "lng"):
            if getattr(self, name).shape != (n,):
                fail(f"{name} must have shape ({n},)")
        for name in ("v", "length_m", "travel_time_s", "highway"):
            if getattr(self, name).shape != (m,):
                fail(f"{name} must have shape ({m},)")
        if self.geom_offsets.shape != (m + 1,):
            fail(f"geom_offsets must have shape ({m + 1},)")
        if self.geom_lat.shape != self.geom_lng.shape:
            fail("geom_lat and geom_lng differ in length")
        if n == 0 or m == 0:
            fail(f"the network has {n} nodes and {m} edges; at least one road is needed")
        ids = self.node_id
        # Sorted ids (every network this package writes) are checked in one pass.
        if not (ids[1:] > ids[:-1]).all() and (np.diff(np.sort(ids)) == 0).any():
            fail("node_id values are not unique")
        if not (np.isfinite(self.lat).all() and np.isfinite(self.lng).all()):
            fail("node coordinates must be finite")
        if (np.abs(self.lat) > 90).any() or (np.abs(self.lng) > 180).any():
            fail("node coordinates must be WGS-84 degrees (|lat| <= 90, |lng| <= 180)")
        if self.u.min() < 0 or self.v.min() < 0 or self.u.max() >= n or self.v.max() >= n:
            fail(f"edge endpoints must be node indices in [0, {n})")
        for name in ("length_m", "travel_time_s"):
            x = getattr(self, name)
            if not np.isfinite(x).all() or (x < 0).any():
                fail(f"{name} must be finite and >= 0")
        if (self.highway < -1).any() or (self.highway >= len(HIGHWAY_CLASSES)).any():
            fail("highway codes must index HIGHWAY_CLASSES (or be -1)")
        off = self.geom_offsets
        if off[0] != 0 or off[-1] != self.geom_lat.shape[0] or (np.diff(off) < 0).any():
            fail("geom_offsets must start at 0, never decrease, and end at len(geom_lat)")


_ALIGN = 64  # byte alignment of every stored member's array data (what numpy's .npy pads to)
_PAD_ID = 0x6B64  # "kd": a private extra-field record that only pads the local header


def _write_npz_aligned(fh: Any, payload: dict[str, Any]) -> None:
    """Write ``payload`` as an uncompressed ``.npz`` whose arrays start 64-byte aligned.

    ``np.savez`` puts each member's data wherever its local header ends, so arrays mapped
    from the file would be misaligned (numpy then takes slow paths, scipy copies). Each
    member's local header here carries a padding record in its extra field (readers skip
    it), so the ``.npy`` image, whose own header pads to 64 bytes, starts aligned too.
    """
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, value in payload.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(value), allow_pickle=False)
            data = buf.getvalue()
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            start = fh.tell() + 30 + len(info.filename.encode()) + 4
            if len(data) >= zipfile.ZIP64_LIMIT:
                start += 20  # the zip64 sizes record zipfile adds before ours
            pad = (-start) % _ALIGN
            info.extra = struct.pack("<HH", _PAD_ID, pad) + b"\0" * pad
            zf.writestr(info, data)


def save_arrays(
    path: str | os.PathLike[str],
    arrays: EdgeArrays,
    *,
    compress: bool = False,
    extra: dict[str, NDArray[Any]] | None = None,
) -> None:
    """Write arrays to one ``.npz`` file (``compress=True`` for files that are shipped).

    ``extra`` entries (derived structures, see :mod:`~kayou_dispatch.network._persist`) are
    written beside them under their own names.
    """
    payload: dict[str, Any] = dict(extra or {})
    payload.update({name: getattr(arrays, name) for name in ARRAY_FIELDS})
    payload["format_version"] = np.array(FORMAT_VERSION)
    payload["meta_json"] = np.array(json.dumps(arrays.meta))
    with open(path, "wb") as fh:
        if compress:
            np.savez_compressed(fh, **payload)
        else:
            _write_npz_aligned(fh, payload)


def load_arrays(path: str | os.PathLike[str]) -> EdgeArrays:
    """Read arrays written by :func:`save_arrays`.

    Raises
    ------
    NetworkLoadError
        When the file is missing, not such an archive, or of another format version.
    """
    return load_saved(path)[0]


def _read_npz(p: Path) -> dict[str, NDArray[Any]]:
    """Read every array of an ``.npz``: stored members are mapped (no copy), others read.

    ``np.load`` copies each member out of the zip through Python reads (seconds for a
    saved province); a member written without compression (what :func:`save_arrays`
    writes by default) is a ``.npy`` image at a known offset of the file, so it is mapped
    read-only instead, its CRC checked as zipfile would.
    """
    out: dict[str, NDArray[Any]] = {}
    with zipfile.ZipFile(p) as zf:
        infos = zf.infolist()
        with open(p, "rb") as fh:
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if infos else None
        for info in infos:
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if info.compress_type != zipfile.ZIP_STORED or mm is None:
                with zf.open(info) as member:
                    out[name] = np.lib.format.read_array(member, allow_pickle=False)
                continue
            local = mm[info.header_offset : info.header_offset + 30]
            if local[:4] != b"PK\x03\x04":
                raise zipfile.BadZipFile(f"bad local header for {info.filename!r}")
            n_name, n_extra = struct.unpack("<HH", local[26:30])
            start = info.header_offset + 30 + n_name + n_extra
            body = memoryview(mm)[start : start + info.file_size]
            if zlib.crc32(body) != info.CRC:
                raise zipfile.BadZipFile(f"bad CRC-32 for {info.filename!r}")
            head = io.BytesIO(body[:65536].tobytes())
            version = np.lib.format.read_magic(head)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(head)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(head)
            if dtype.hasobject:
                raise ValueError(f"{info.filename!r} holds Python objects (refused)")
            count = math.prod(shape)
            arr = np.frombuffer(body, dtype=dtype, count=count, offset=head.tell())
            arr = arr.reshape(shape, order="F" if fortran else "C")
            # Files written before members were aligned: a copy beats slow paths on every use.
            out[name] = arr if arr.flags.aligned else arr.copy()
    return out


def load_saved(path: str | os.PathLike[str]) -> tuple[EdgeArrays, dict[str, NDArray[Any]]]:
    """Read arrays written by :func:`save_arrays`, with the ``extra`` entries saved beside.

    Raises
    ------
    NetworkLoadError
        As :func:`load_arrays`.
    """

    p = Path(path)
    if not p.is_file():
        raise NetworkLoadError(f"no saved network at {str(p)!r}", source=path)
    try:
        z = _read_npz(p)
        version = int(z["format_version"])
        if version != FORMAT_VERSION:
            msg = f"{str(p)!r} is network format {version}; this version reads {FORMAT_VERSION}"
            raise NetworkLoadError(msg, source=path)
        data = {name: z[name] for name in ARRAY_FIELDS}
        meta = json.loads(str(z["meta_json"]))
        known = {*ARRAY_FIELDS, "format_version", "meta_json"}
        extra = {name: a for name, a in z.items() if name not in known}
    except NetworkLoadError:
        raise
    except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        msg = f"{str(p)!r} is not a saved kayou_dispatch network ({exc})"
        raise NetworkLoadError(msg, source=path) from None
    arrays = EdgeArrays(**data, meta=meta)
    arrays.validate(source=path)
    return arrays, extra
