import json
import os

CONFIG_PATH = os.path.join(os.path.dirname(__file__), "config", "defaults.json")


def load_config():
    with open(CONFIG_PATH, encoding="utf-8") as fh:
        return json.load(fh)
