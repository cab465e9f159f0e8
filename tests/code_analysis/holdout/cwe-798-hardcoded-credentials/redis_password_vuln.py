import redis


def cache():
    return redis.Redis(host="cache.internal", port=6379, password="r3d1s-Pr0d-2024!")  # expect: CWE-798
