"""Per-principal rate limits: an in-process token bucket, or Redis when a broker is set.

A bucket holds ``per_minute`` tokens and refills at ``per_minute / 60`` a second; a request
takes one. When the bucket is empty the caller gets 429 with ``Retry-After``. With Redis the
limit is shared by every API process (fixed one-minute windows); if Redis stops answering the
process falls back to its own bucket rather than refusing everyone.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from typing import Any, Protocol

log = logging.getLogger("casesearch.access.ratelimit")

MAX_BUCKETS = 100_000


class RateLimiter(Protocol):
    def hit(self, key: str) -> float | None:
        """None if allowed, else the seconds to wait before retrying."""


class TokenBucketLimiter:
    def __init__(self, per_minute: int, clock: Any = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                allowed = True
            else:
                self._buckets[key] = (tokens, now)
                allowed = False
            if len(self._buckets) > MAX_BUCKETS:
                self._evict(now)
        if allowed:
            return None
        return (1.0 - tokens) / self.rate

    def _evict(self, now: float) -> None:
        # Buckets that have refilled completely carry no state worth keeping.
        full_after = self.capacity / self.rate if self.rate else 0.0
        for key in [k for k, (_, last) in self._buckets.items() if now - last > full_after]:
            del self._buckets[key]


class RedisRateLimiter:
    def __init__(self, url: str, per_minute: int, prefix: str = "casesearch") -> None:
        import redis

        self.per_minute = per_minute
        self.prefix = prefix
        self._redis = redis.Redis.from_url(url, socket_timeout=0.5,
                                           socket_connect_timeout=0.5)
        self._fallback = TokenBucketLimiter(per_minute)

    def hit(self, key: str) -> float | None:
        now = time.time()
        window = int(now // 60)
        # Subjects may be e-mail addresses: only a hash of them goes to Redis.
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        name = f"{self.prefix}:ratelimit:{digest}:{window}"
        try:
            pipe = self._redis.pipeline()
            pipe.incr(name)
            pipe.expire(name, 61)
            count = int(pipe.execute()[0])
        except Exception:  # noqa: BLE001 - any Redis failure: keep limiting locally
            log.warning("rate limit store unavailable; using the in-process limit")
            return self._fallback.hit(key)
        if count <= self.per_minute:
            return None
        return max(1.0, (window + 1) * 60 - now)


def make_rate_limiter(per_minute: int, broker_url: str | None,
                      prefix: str = "casesearch") -> RateLimiter | None:
    if per_minute <= 0:
        return None
    if broker_url:
        return RedisRateLimiter(broker_url, per_minute, prefix)
    return TokenBucketLimiter(per_minute)


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
