"""The contraction hierarchy's loops, written once for numba and for plain Python.

Every function here is plain Python over numpy arrays and integers, in the subset numba
compiles (no objects, no Python containers): :mod:`~kayou_dispatch.network.hierarchy`
runs them compiled when numba is installed (``pip install "kayou-dispatch[fast]"``) and as
they are otherwise. Both run the same operations in the same order on IEEE doubles (no
``fastmath``), so both give bit-identical results (tested); the compiled ones are about a
hundred times faster, which building a hierarchy of millions of nodes needs.

Numbering: ``rank[v]`` is the order in which ``v`` was contracted. An arc ``x -> y`` of the
hierarchy is *up* when ``rank[x] < rank[y]`` and *down* otherwise. Arcs keep no record of
the node a shortcut skips: :func:`unpack_length` finds it again, for the few routes traced.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "build",
    "mark_up",
    "query",
    "remark",
    "unpack_length",
]

_INF = math.inf


# --- a binary heap of (key, item), smallest key first, ties by smaller item ------------------


def _less(hk, hi, a, b):
    return hk[a] < hk[b] or (hk[a] == hk[b] and hi[a] < hi[b])


def _push(hk, hi, size, key, item):
    if size == hk.shape[0]:
        nk = np.empty(2 * size, dtype=np.float64)
        ni = np.empty(2 * size, dtype=np.int64)
        nk[:size] = hk
        ni[:size] = hi
        hk, hi = nk, ni
    i = size
    hk[i] = key
    hi[i] = item
    while i > 0:
        p = (i - 1) // 2
        if _less(hk, hi, i, p):
            hk[i], hk[p] = hk[p], hk[i]
            hi[i], hi[p] = hi[p], hi[i]
            i = p
        else:
            break
    return hk, hi, size + 1


def _pop(hk, hi, size):
    # Removes the top (read hk[0], hi[0] before): returns the new size.
    size -= 1
    hk[0] = hk[size]
    hi[0] = hi[size]
    i = 0
    while True:
        a = 2 * i + 1
        if a >= size:
            break
        b = a + 1
        c = b if (b < size and _less(hk, hi, b, a)) else a
        if _less(hk, hi, c, i):
            hk[i], hk[c] = hk[c], hk[i]
            hi[i], hi[c] = hi[c], hi[i]
            i = c
        else:
            break
    return size


# --- growable adjacency lists: one pool, a segment per node ---------------------------------


def _append(start, length, cap, to, wt, used, node, x, w):
    # Appends (x, w) to node's list, moving the list to the pool's end when it is full.
    if length[node] == cap[node]:
        new_cap = max(4, 2 * cap[node])
        if used + new_cap > to.shape[0]:
            grow = max(used + new_cap, to.shape[0] + to.shape[0] // 2)
            nt = np.empty(grow, dtype=np.int64)
            nw = np.empty(grow, dtype=np.float64)
            nt[:used] = to[:used]
            nw[:used] = wt[:used]
            to, wt = nt, nw
        s = start[node]
        for j in range(length[node]):
            to[used + j] = to[s + j]
            wt[used + j] = wt[s + j]
        start[node] = used
        cap[node] = new_cap
        used += new_cap
    j = start[node] + length[node]
    to[j] = x
    wt[j] = w
    length[node] += 1
    return to, wt, used


def _set_arc(start, length, cap, to, wt, used, node, x, w):
    # Node's arc to x gets weight w unless it already has one at most w.
    s = start[node]
    for j in range(s, s + length[node]):
        if to[j] == x:
            if w < wt[j]:
                wt[j] = w
            return to, wt, used
    return _append(start, length, cap, to, wt, used, node, x, w)


def _compact(start, length, to, wt, done, node):
    # Drops node's arcs to contracted nodes.
    s = start[node]
    k = s
    for j in range(s, s + length[node]):
        if not done[to[j]]:
            to[k] = to[j]
            wt[k] = wt[j]
            k += 1
    length[node] = k - s


# --- building ---------------------------------------------------------------------------


def _witness(
    src, skip, bound, limit, o_start, o_len, o_to, o_wt, done, dist, touched, hk, hi
):
    # Dijkstra from src avoiding skip and contracted nodes, up to bound or limit settled
    # nodes; dist holds the times found (touched lists them, for the caller to reset).
    n_t = 0
    dist[src] = 0.0
    touched[n_t] = src
    n_t += 1
    size = 0
    hk, hi, size = _push(hk, hi, size, 0.0, src)
    settled = 0
    while size > 0:
        d = hk[0]
        x = hi[0]
        size = _pop(hk, hi, size)
        if d > dist[x]:
            continue
        if d > bound or settled >= limit:
            break
        settled += 1
        s = o_start[x]
        for j in range(s, s + o_len[x]):
            y = o_to[j]
            if y == skip or done[y]:
                continue
            nd = d + o_wt[j]
            if nd < dist[y]:
                if dist[y] == _INF:
                    if n_t == touched.shape[0]:
                        nt = np.empty(2 * n_t, dtype=np.int64)
                        nt[:n_t] = touched
                        touched = nt
                    touched[n_t] = y
                    n_t += 1
                dist[y] = nd
                hk, hi, size = _push(hk, hi, size, nd, y)
    return n_t, touched, hk, hi


def _shortcuts(
    v, limit, o_start, o_len, o_to, o_wt, i_start, i_len, i_to, i_wt,
    done, dist, touched, hk, hi, sc_u, sc_x, sc_w,
):  # fmt: skip
    # The shortcuts contracting v needs: u -> x through v where no witness path is as fast.
    n_sc = 0
    si = i_start[v]
    so = o_start[v]
    for a in range(si, si + i_len[v]):
        u = i_to[a]
        if done[u]:
            continue
        wu = i_wt[a]
        bound = -1.0
        for b in range(so, so + o_len[v]):
            x = o_to[b]
            if x != u and not done[x] and wu + o_wt[b] > bound:
                bound = wu + o_wt[b]
        if bound < 0.0:
            continue
        n_t, touched, hk, hi = _witness(
            u, v, bound, limit, o_start, o_len, o_to, o_wt, done, dist, touched, hk, hi
        )
        for b in range(so, so + o_len[v]):
            x = o_to[b]
            if x == u or done[x]:
                continue
            w = wu + o_wt[b]
            if dist[x] <= w:
                continue
            if n_sc == sc_u.shape[0]:
                g = 2 * n_sc
                nu = np.empty(g, dtype=np.int64)
                nx = np.empty(g, dtype=np.int64)
                nw = np.empty(g, dtype=np.float64)
                nu[:n_sc] = sc_u
                nx[:n_sc] = sc_x
                nw[:n_sc] = sc_w
                sc_u, sc_x, sc_w = nu, nx, nw
            sc_u[n_sc] = u
            sc_x[n_sc] = x
            sc_w[n_sc] = w
            n_sc += 1
        for j in range(n_t):
            dist[touched[j]] = _INF
    return n_sc, sc_u, sc_x, sc_w, touched, hk, hi


def _live_degree(start, length, to, done, v):
    k = 0
    s = start[v]
    for j in range(s, s + length[v]):
        if not done[to[j]]:
            k += 1
    return k


def build(n, tail, head, weight, settle_limit):
    """Contract every node; return the hierarchy's arcs and each node's rank.

    ``tail, head, weight``: the graph's arcs (no loops, at most one per ordered pair: the
    fastest). Nodes are contracted by increasing priority (shortcuts added minus arcs
    removed, plus contracted neighbours, plus level: lazily updated), each shortcut added
    only where a witness search (``settle_limit`` nodes at most) finds no path as fast.
    Returns ``(lo, hi, up, w, rank)``: every arc of the hierarchy as ``lo`` (its
    lower-ranked end), ``hi``, ``up`` (``lo -> hi`` when true, ``hi -> lo`` otherwise) and
    weight.
    """
    m = tail.shape[0]
    cap0 = 2 * m + 4 * n + 16
    o_start = np.zeros(n, dtype=np.int64)
    o_len = np.zeros(n, dtype=np.int64)
    o_cap = np.zeros(n, dtype=np.int64)
    i_start = np.zeros(n, dtype=np.int64)
    i_len = np.zeros(n, dtype=np.int64)
    i_cap = np.zeros(n, dtype=np.int64)
    o_to = np.empty(cap0, dtype=np.int64)
    o_wt = np.empty(cap0, dtype=np.float64)
    i_to = np.empty(cap0, dtype=np.int64)
    i_wt = np.empty(cap0, dtype=np.float64)
    # Lay the lists out in node order, each with room to grow.
    deg_o = np.zeros(n, dtype=np.int64)
    deg_i = np.zeros(n, dtype=np.int64)
    for e in range(m):
        deg_o[tail[e]] += 1
        deg_i[head[e]] += 1
    used_o = 0
    used_i = 0
    for v in range(n):
        o_start[v] = used_o
        o_cap[v] = deg_o[v] + 2
        used_o += o_cap[v]
        i_start[v] = used_i
        i_cap[v] = deg_i[v] + 2
        used_i += i_cap[v]
    for e in range(m):
        a = tail[e]
        b = head[e]
        j = o_start[a] + o_len[a]
        o_to[j] = b
        o_wt[j] = weight[e]
        o_len[a] += 1
        j = i_start[b] + i_len[b]
        i_to[j] = a
        i_wt[j] = weight[e]
        i_len[b] += 1

    done = np.zeros(n, dtype=np.bool_)
    dist = np.full(n, _INF)
    touched = np.empty(1024, dtype=np.int64)
    hk = np.empty(1024, dtype=np.float64)
    hi = np.empty(1024, dtype=np.int64)
    sc_u = np.empty(64, dtype=np.int64)
    sc_x = np.empty(64, dtype=np.int64)
    sc_w = np.empty(64, dtype=np.float64)
    neighbours = np.zeros(n, dtype=np.int64)  # contracted neighbours
    level = np.zeros(n, dtype=np.int64)
    rank = np.full(n, -1, dtype=np.int64)

    # The priority queue of nodes (its own heap arrays).
    qk = np.empty(max(n, 1), dtype=np.float64)
    qi = np.empty(max(n, 1), dtype=np.int64)
    qn = 0
    for v in range(n):
        n_sc, sc_u, sc_x, sc_w, touched, hk, hi = _shortcuts(
            v, settle_limit, o_start, o_len, o_to, o_wt, i_start, i_len, i_to, i_wt,
            done, dist, touched, hk, hi, sc_u, sc_x, sc_w,
        )  # fmt: skip
        prio = float(n_sc - o_len[v] - i_len[v])
        qk, qi, qn = _push(qk, qi, qn, prio, v)

    out_cap = 2 * m + 16
    lo = np.empty(out_cap, dtype=np.int64)
    hi_ = np.empty(out_cap, dtype=np.int64)
    up = np.empty(out_cap, dtype=np.bool_)
    aw = np.empty(out_cap, dtype=np.float64)
    n_arcs = 0
    order = 0
    while qn > 0:
        v = qi[0]
        qn = _pop(qk, qi, qn)
        n_sc, sc_u, sc_x, sc_w, touched, hk, hi = _shortcuts(
            v, settle_limit, o_start, o_len, o_to, o_wt, i_start, i_len, i_to, i_wt,
            done, dist, touched, hk, hi, sc_u, sc_x, sc_w,
        )  # fmt: skip
        removed = _live_degree(o_start, o_len, o_to, done, v) + _live_degree(
            i_start, i_len, i_to, done, v
        )
        prio = float(n_sc - removed + neighbours[v] + level[v])
        if qn > 0 and prio > qk[0]:
            qk, qi, qn = _push(qk, qi, qn, prio, v)
            continue
        # Contract v: its arcs to live nodes are final; then the shortcuts.
        rank[v] = order
        order += 1
        need = n_arcs + o_len[v] + i_len[v]
        if need > lo.shape[0]:
            g = max(need, lo.shape[0] + lo.shape[0] // 2)
            nlo = np.empty(g, dtype=np.int64)
            nhi = np.empty(g, dtype=np.int64)
            nup = np.empty(g, dtype=np.bool_)
            nw = np.empty(g, dtype=np.float64)
            nlo[:n_arcs] = lo[:n_arcs]
            nhi[:n_arcs] = hi_[:n_arcs]
            nup[:n_arcs] = up[:n_arcs]
            nw[:n_arcs] = aw[:n_arcs]
            lo, hi_, up, aw = nlo, nhi, nup, nw
        s = o_start[v]
        for j in range(s, s + o_len[v]):
            x = o_to[j]
            if done[x]:
                continue
            lo[n_arcs] = v
            hi_[n_arcs] = x
            up[n_arcs] = True
            aw[n_arcs] = o_wt[j]
            n_arcs += 1
        s = i_start[v]
        for j in range(s, s + i_len[v]):
            x = i_to[j]
            if done[x]:
                continue
            lo[n_arcs] = v
            hi_[n_arcs] = x
            up[n_arcs] = False
            aw[n_arcs] = i_wt[j]
            n_arcs += 1
        done[v] = True
        for j in range(n_sc):
            u = sc_u[j]
            x = sc_x[j]
            w = sc_w[j]
            o_to, o_wt, used_o = _set_arc(o_start, o_len, o_cap, o_to, o_wt, used_o, u, x, w)
            i_to, i_wt, used_i = _set_arc(i_start, i_len, i_cap, i_to, i_wt, used_i, x, u, w)
        # Neighbours: one more contracted neighbour, a level above v, lists compacted.
        for side in range(2):
            st = o_start if side == 0 else i_start
            ln = o_len if side == 0 else i_len
            tt = o_to if side == 0 else i_to
            s = st[v]
            for j in range(s, s + ln[v]):
                x = tt[j]
                if done[x]:
                    continue
                neighbours[x] += 1
                if level[x] < level[v] + 1:
                    level[x] = level[v] + 1
                _compact(o_start, o_len, o_to, o_wt, done, x)
                _compact(i_start, i_len, i_to, i_wt, done, x)
    return lo[:n_arcs], hi_[:n_arcs], up[:n_arcs], aw[:n_arcs], rank


# --- responder marks ----------------------------------------------------------------------


def mark_up(marks, nodes, upc_ptr, upc_to, stack):
    """Mark ``nodes`` as departure nodes (bit 1) and every node above them (bit 2).

    Going up stops at nodes already marked (bit 2 is kept closed upwards). Returns the
    stack, grown if it had to be.
    """
    for i in range(nodes.shape[0]):
        v = nodes[i]
        marks[v] |= 1
        if marks[v] & 2:
            continue
        marks[v] |= 2
        top = 0
        stack[top] = v
        top += 1
        while top > 0:
            top -= 1
            x = stack[top]
            for j in range(upc_ptr[x], upc_ptr[x + 1]):
                y = upc_to[j]
                if marks[y] & 2:
                    continue
                marks[y] |= 2
                if top == stack.shape[0]:
                    ns = np.empty(2 * top, dtype=np.int64)
                    ns[:top] = stack
                    stack = ns
                stack[top] = y
                top += 1
    return stack


def remark(marks, nodes, order, upc_ptr, upc_to):
    """Set ``marks`` afresh: ``nodes`` are the departure nodes, their closure above them.

    ``order``: the nodes by increasing rank (one sweep up the hierarchy).
    """
    marks[:] = 0
    for i in range(nodes.shape[0]):
        marks[nodes[i]] = 3
    for i in range(order.shape[0]):
        x = order[i]
        if marks[x] & 2:
            for j in range(upc_ptr[x], upc_ptr[x + 1]):
                marks[upc_to[j]] |= 2


# --- querying -----------------------------------------------------------------------------


def query(
    dn_ptr, dn_to, dn_w, up_ptr, up_to, up_w, marks, seeds, offsets, limit, want,
    dist, par, touched, hk, hi,
):  # fmt: skip
    """Settle departure nodes by increasing time to the seeds, until ``want`` of them.

    A reverse search: *A* states go up the hierarchy from the seeds (arcs ``y -> z`` down
    into ``z``), *B* states come down from any A or B state (arcs ``x -> p`` up into ``p``)
    into marked nodes only; a node's time is its B state's. Every state with a time below
    the returned frontier is settled: a departure node not returned takes at least that
    long (``inf``: the search ran out; past ``limit`` nothing is settled).

    ``dist`` (``2 n``, all ``inf``) and ``par`` are scratch space: ``dist`` is left as it
    was found. Returns ``(frontier, states, times, parents, n_touched, touched, hk, hi)``:
    every settled state (``2 * node + phase``, phase 1 for B) with its time and parent
    (``-1`` for a seed; ``2 * arc + 1`` for a B state from its own A state; else the state
    it came from is the arc's other end: arcs are ``dn`` indices for A, ``up`` for B,
    encoded ``2 * (arc + 1)``), and how many departure nodes came first.
    """
    n_t = 0
    size = 0
    for i in range(seeds.shape[0]):
        touched, n_t, hk, hi, size = _relax(
            dist, par, touched, n_t, hk, hi, size, 2 * seeds[i], offsets[i], -1
        )
    out_s = np.empty(64, dtype=np.int64)
    out_d = np.empty(64, dtype=np.float64)
    out_p = np.empty(64, dtype=np.int64)
    n_out = 0
    found = 0
    frontier = _INF
    while size > 0:
        d = hk[0]
        item = hi[0]
        size = _pop(hk, hi, size)
        st = item
        if d > dist[st]:
            continue  # improved since pushed
        if d > limit or found >= want:
            frontier = d
            break
        if n_out == out_s.shape[0]:
            g = 2 * n_out
            ns = np.empty(g, dtype=np.int64)
            nd = np.empty(g, dtype=np.float64)
            npp = np.empty(g, dtype=np.int64)
            ns[:n_out] = out_s
            nd[:n_out] = out_d
            npp[:n_out] = out_p
            out_s, out_d, out_p = ns, nd, npp
        out_s[n_out] = st
        out_d[n_out] = d
        out_p[n_out] = par[st]
        n_out += 1
        node = st // 2
        if st % 2 == 0:
            # A: up the hierarchy, and down from here.
            for j in range(dn_ptr[node], dn_ptr[node + 1]):
                touched, n_t, hk, hi, size = _relax(
                    dist, par, touched, n_t, hk, hi, size, 2 * dn_to[j], d + dn_w[j], 2 * (j + 1)
                )
            if marks[node] & 2:
                touched, n_t, hk, hi, size = _relax(
                    dist, par, touched, n_t, hk, hi, size, st + 1, d, 1
                )
        else:
            if marks[node] & 1:
                found += 1
            for j in range(up_ptr[node], up_ptr[node + 1]):
                if d + up_w[j] > limit:
                    break  # rows are sorted by weight: the rest is past the limit too
                x = up_to[j]
                if marks[x] & 2:
                    touched, n_t, hk, hi, size = _relax(
                        dist, par, touched, n_t, hk, hi, size, 2 * x + 1, d + up_w[j], 2 * (j + 1)
                    )
    for j in range(n_t):
        dist[touched[j]] = _INF
    return frontier, out_s[:n_out], out_d[:n_out], out_p[:n_out], found, touched, hk, hi


def _relax(dist, par, touched, n_t, hk, hi, size, state, d, parent):
    # A path of time d to state (through parent): kept if faster than the one known.
    if d < dist[state]:
        if dist[state] == _INF:
            if n_t == touched.shape[0]:
                nt = np.empty(2 * n_t, dtype=np.int64)
                nt[:n_t] = touched
                touched = nt
            touched[n_t] = state
            n_t += 1
        dist[state] = d
        par[state] = parent
        hk, hi, size = _push(hk, hi, size, d, state)
    return touched, n_t, hk, hi, size


def unpack_length(
    xs, ys, ws, dn_ptr, dn_to, dn_w, up_ptr, up_to, up_w, f_ptr, f_to, f_edge, tt, length_m
):
    """Return the driven length of the hierarchy arcs ``xs -> ys`` of weights ``ws``, metres.

    One call for a whole path. An original edge ``x -> y`` that takes exactly ``w`` (``f_*``:
    the road graph's rows, ``tt`` its times) is that edge; otherwise the arc is a shortcut
    through a node ``m`` ranked below both, made of arcs ``x -> m`` (down, filed at ``m`` in
    ``dn``) and ``m -> y`` (up, filed at ``y`` in ``up``) whose weights add up to exactly
    ``w``, the sum the build made (``up`` rows run by weight, so only arcs no heavier than the
    shortcut are tried; ``dn`` rows are sorted by their other end: one binary search per
    candidate). ``nan`` if there is none (never, if the arrays are a hierarchy's: the
    tests compare every length traced with plain Dijkstra's).
    """
    top = xs.shape[0]
    stack_n = np.empty(2 * top + 256, dtype=np.int64)
    stack_w = np.empty(top + 128, dtype=np.float64)
    for i in range(top):
        stack_n[2 * i] = xs[i]
        stack_n[2 * i + 1] = ys[i]
        stack_w[i] = ws[i]
    total = 0.0
    while top > 0:
        top -= 1
        a = stack_n[2 * top]
        b = stack_n[2 * top + 1]
        c = stack_w[top]
        hit = False
        for j in range(f_ptr[a], f_ptr[a + 1]):
            if f_to[j] == b and tt[f_edge[j]] == c:
                total += length_m[f_edge[j]]
                hit = True
                break
        if hit:
            continue
        for i in range(up_ptr[b], up_ptr[b + 1]):
            if up_w[i] > c:
                break  # up rows run by weight, and no x -> m is negative
            m = up_to[i]
            # x -> m: row m of dn is sorted by its other end: a binary search for a.
            lo = dn_ptr[m]
            hi = dn_ptr[m + 1]
            while lo < hi:
                mid = (lo + hi) // 2
                if dn_to[mid] < a:
                    lo = mid + 1
                else:
                    hi = mid
            j = lo
            if j < dn_ptr[m + 1] and dn_to[j] == a and dn_w[j] + up_w[i] == c:
                if 2 * top + 4 > stack_n.shape[0]:
                    nn = np.empty(2 * stack_n.shape[0], dtype=np.int64)
                    nw = np.empty(2 * stack_w.shape[0], dtype=np.float64)
                    nn[: 2 * top] = stack_n[: 2 * top]
                    nw[:top] = stack_w[:top]
                    stack_n, stack_w = nn, nw
                stack_n[2 * top] = a
                stack_n[2 * top + 1] = m
                stack_w[top] = dn_w[j]
                stack_n[2 * top + 2] = m
                stack_n[2 * top + 3] = b
                stack_w[top + 1] = up_w[i]
                top += 2
                hit = True
                break
        if not hit:
            return math.nan
    return total
