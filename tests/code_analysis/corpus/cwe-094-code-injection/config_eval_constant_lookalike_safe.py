DEFAULTS = "{'retries': 3, 'timeout': 10}"


def load_defaults():
    return eval(DEFAULTS)
