"""A Redis cache that treats an unreachable Redis as a cache miss."""

import functools

import redis
from django.core.cache.backends.redis import RedisCache

from healthhub.resilience import CircuitBreaker

# Shared by every Redis cache alias of the process: one server, one verdict.
cache_breaker = CircuitBreaker("The Redis cache")


def _guarded(method, fallback):
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        if not cache_breaker.allow():
            return fallback(*args, **kwargs)
        try:
            result = method(self, *args, **kwargs)
        except redis.RedisError as error:
            cache_breaker.failed(error)
            return fallback(*args, **kwargs)
        cache_breaker.succeeded()
        return result

    return call


def _default(key, default=None, *args, **kwargs):
    return default


def _nothing(*args, **kwargs):
    return None


def _false(*args, **kwargs):
    return False


def _empty(*args, **kwargs):
    return {}


def _unset(data, *args, **kwargs):
    return list(data)


class ResilientRedisCache(RedisCache):
    """Django's Redis cache, with every call guarded by the circuit breaker.

    Reads that cannot reach Redis miss, writes are dropped, and while the
    breaker is open nothing is tried, so a dead or frozen Redis costs each
    process one short probe every few seconds. The socket timeouts in
    OPTIONS (settings.CACHES) bound that probe.
    """

    get = _guarded(RedisCache.get, _default)
    get_many = _guarded(RedisCache.get_many, _empty)
    has_key = _guarded(RedisCache.has_key, _false)
    set = _guarded(RedisCache.set, _nothing)
    set_many = _guarded(RedisCache.set_many, _unset)
    add = _guarded(RedisCache.add, _false)
    touch = _guarded(RedisCache.touch, _false)
    delete = _guarded(RedisCache.delete, _false)
    delete_many = _guarded(RedisCache.delete_many, _nothing)
    clear = _guarded(RedisCache.clear, _nothing)
