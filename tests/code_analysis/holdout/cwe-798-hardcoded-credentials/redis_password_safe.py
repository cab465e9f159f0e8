import os

import redis


def cache():
    return redis.Redis(host="cache.internal", port=6379, password=os.environ["REDIS_PASSWORD"])
