"""Check bearer tokens against a token file and limit each token's request rate.

The token file is JSON: ``{"<token>": {"role": "dispatcher"}, "<token>": {"role":
"responder", "responder_id": "truck-17"}, "<token>": {"role": "requester", "requester_id":
"shipper-4"}}``. A dispatcher reads and acts on everything; a responder only on itself and
on the offers made to it; a requester (the driver or fleet asking for help) only reports
incidents and reads the ones it reported.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kayou_dispatch.errors import InvalidParameterError

__all__ = [
    "authorization_of",
    "bearer_token",
    "DuplicateAuthorizationError",
    "load_tokens",
    "Principal",
    "principal_for",
    "ROLES",
    "TokenBucket",
]

#: The roles a token may have.
ROLES = ("dispatcher", "requester", "responder")

#: The id key each role's token entry must carry (a dispatcher's carries none).
_ID_KEYS = {"responder": "responder_id", "requester": "requester_id"}

#: Environment variable naming the token file when none is given.
TOKENS_ENV = "KAYOU_TOKENS_FILE"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as.

    Attributes
    ----------
    token
        The bearer token (the rate limit's key).
    role
        ``"dispatcher"``, ``"responder"`` or ``"requester"``.
    responder_id
        The responder a responder token speaks for (``None`` for the other roles).
    requester_id
        The requester a requester token speaks for: the incidents it reports are its own
        (``None`` for the other roles).
    """

    token: str
    role: str
    responder_id: str | None = None
    requester_id: str | None = None

    @property
    def is_dispatcher(self) -> bool:
        """Whether the token may read and act on everything."""
        return self.role == "dispatcher"

    @property
    def is_requester(self) -> bool:
        """Whether the token only reports incidents and follows its own."""
        return self.role == "requester"

    @property
    def identity(self) -> str:
        """Who this is, stable across restarts: ``responder:<id>``, ``requester:<id>`` or
        ``dispatcher:<digest>``.

        A responder (a requester) is its id, whichever of its tokens it uses; a dispatcher
        token is a digest of the token (the token itself never reaches a journal).
        """
        if self.responder_id is not None:
            return f"responder:{self.responder_id}"
        if self.requester_id is not None:
            return f"requester:{self.requester_id}"
        digest = hashlib.sha256(self.token.encode("utf-8")).hexdigest()[:16]
        return f"{self.role}:{digest}"

    def request_id(self, idempotency_key: str | None) -> str | None:
        """The lifecycle's request id for this principal's ``Idempotency-Key``.

        Keys are scoped per principal: another client's key is a different request id,
        so reusing it neither answers the other's command nor takes the key from it.
        The identity's length prefixes it, so no two (identity, key) pairs collide.

        Examples
        --------
        >>> Principal("t", "responder", "r1").request_id("k")
        '12:responder:r1/k'
        """
        if idempotency_key is None:
            return None
        who = self.identity
        return f"{len(who)}:{who}/{idempotency_key}"


def _parse_entry(token: Any, entry: Any) -> Principal:
    if isinstance(entry, Principal):  # already loaded
        loaded: dict[str, Any] = {"role": entry.role}
        for key in _ID_KEYS.values():
            if getattr(entry, key) is not None:
                loaded[key] = getattr(entry, key)
        entry = loaded
    if not isinstance(token, str) or not token.strip() or token != token.strip():
        msg = f"a token must be a non-empty string without surrounding spaces, got {token!r}"
        raise InvalidParameterError(msg, name="tokens", value=token)
    if not isinstance(entry, Mapping) or entry.get("role") not in ROLES:
        msg = f"token entry must be {{'role': one of {ROLES}, ...}}, got {entry!r}"
        raise InvalidParameterError(msg, name="tokens", value=entry)
    extra = set(entry) - {"role", *_ID_KEYS.values()}
    if extra:
        msg = (
            f"unknown keys {sorted(extra)} in a token entry "
            "(allowed: role, responder_id, requester_id)"
        )
        raise InvalidParameterError(msg, name="tokens", value=entry)
    role = entry["role"]
    ids: dict[str, str] = {}
    for id_role, key in _ID_KEYS.items():
        value = entry.get(key)
        if role == id_role:
            if not isinstance(value, str) or not value:
                msg = f"a {role} token needs a non-empty {key!r} (got {value!r})"
                raise InvalidParameterError(msg, name="tokens", value=entry)
            ids[key] = value
        elif value is not None:
            msg = f"a {role} token takes no {key!r}"
            raise InvalidParameterError(msg, name="tokens", value=entry)
    return Principal(token, role, **ids)


def load_tokens(
    source: Mapping[str, Any] | str | os.PathLike[str] | None = None,
) -> dict[str, Principal]:
    """Read tokens and their roles from a mapping, a JSON file, or ``$KAYOU_TOKENS_FILE``.

    Raises
    ------
    InvalidParameterError
        For a missing or unreadable file, bad JSON, an unknown role, a responder token
        without ``responder_id`` or a requester token without ``requester_id``.

    Examples
    --------
    >>> toks = load_tokens({"s3cret": {"role": "responder", "responder_id": "r1"}})
    >>> toks["s3cret"].responder_id
    'r1'
    """
    if source is None:
        env = os.environ.get(TOKENS_ENV)
        if not env:
            msg = f"no tokens: pass auth= (a mapping or a JSON file) or set ${TOKENS_ENV}"
            raise InvalidParameterError(msg, name="auth", value=None)
        source = env
    if isinstance(source, str | os.PathLike):
        try:
            data = json.loads(Path(source).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            msg = f"cannot read the token file {os.fspath(source)!r}: {exc}"
            raise InvalidParameterError(msg, name="auth", value=source) from exc
    else:
        data = source
    if not isinstance(data, Mapping):
        msg = "tokens must be a JSON object {token: {role, responder_id? | requester_id?}}"
        raise InvalidParameterError(msg, name="auth", value=type(data).__name__)
    return {tok: _parse_entry(tok, entry) for tok, entry in data.items()}


def bearer_token(authorization: str) -> str:
    """The token of an ``Authorization: Bearer <token>`` header value ('' for anything else).

    Examples
    --------
    >>> bearer_token("Bearer s3cret"), bearer_token("bearer  s3cret "), bearer_token("Basic x")
    ('s3cret', 's3cret', '')
    """
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class DuplicateAuthorizationError(ValueError):
    """A request carrying more than one ``Authorization`` header (answered 400).

    Which one counts differs between a proxy (often the first) and a server (here the
    last would win), so a request with two is refused rather than read either way.
    """

    code = "DuplicateAuthorizationHeader"


def authorization_of(raw_headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The value of a request's one ``Authorization`` header ('' when it has none).

    Raises
    ------
    DuplicateAuthorizationError
        When the request has two or more.

    Examples
    --------
    >>> authorization_of([(b"authorization", b"Bearer t"), (b"accept", b"*/*")])
    'Bearer t'
    """
    values = [v for k, v in raw_headers if k.lower() == b"authorization"]
    if len(values) > 1:
        msg = f"{len(values)} Authorization headers: send exactly one"
        raise DuplicateAuthorizationError(msg)
    return values[0].decode("latin-1") if values else ""


def principal_for(
    tokens: Mapping[str, Principal], authorization: str = "", query_token: str = ""
) -> Principal | None:
    """Who a request acts as: its bearer header, else its ``?token=`` (browsers), else ``None``.

    The one place tokens are read: the HTTP gate, the WebSocket and the console page.
    """
    token = bearer_token(authorization) or query_token
    return tokens.get(token) if token else None


class TokenBucket:
    """A per-key token bucket: ``rate_per_s`` requests a second, bursts up to ``burst``.

    Examples
    --------
    >>> now = [0.0]
    >>> bucket = TokenBucket(1.0, 2, clock=lambda: now[0])
    >>> [bucket.allow("t") for _ in range(3)]
    [True, True, False]
    >>> now[0] = 1.0
    >>> bucket.allow("t")
    True
    """

    def __init__(
        self, rate_per_s: float, burst: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        for name, value in (("rate_per_s", rate_per_s), ("burst", burst)):
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                msg = f"{name} must be a finite number > 0, got {value!r}"
                raise InvalidParameterError(msg, name=name, value=value)
        self.rate_per_s = float(rate_per_s)
        self.burst = float(burst)
        self._clock = clock
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    #: Keys held before full buckets are forgotten (a full bucket is the same as none).
    max_keys = 100_000

    def allow(self, key: str) -> bool:
        """Take one request from ``key``'s bucket; ``False`` when it is empty."""
        now = self._clock()
        with self._lock:
            if key not in self._state and len(self._state) >= self.max_keys:
                self._forget_full(now)
            level, last = self._state.get(key, (self.burst, now))
            level = min(self.burst, level + (now - last) * self.rate_per_s)
            ok = level >= 1.0
            self._state[key] = (level - 1.0 if ok else level, now)
            return ok

    def _forget_full(self, now: float) -> None:
        """Drop the buckets that have refilled (many clients must not grow memory for ever)."""
        full = [
            k
            for k, (level, last) in self._state.items()
            if level + (now - last) * self.rate_per_s >= self.burst
        ]
        for k in full:
            del self._state[k]

    def retry_after_s(self, key: str) -> float:
        """Seconds until ``key`` may send again."""
        with self._lock:
            level, _ = self._state.get(key, (self.burst, 0.0))
        return max(0.0, (1.0 - level) / self.rate_per_s)
