import json
import ssl
import urllib.request


def load_feature_flags():
    context = ssl._create_unverified_context()  # expect: CWE-295
    with urllib.request.urlopen("https://flags.internal.example/v1/flags", context=context, timeout=5) as resp:
        return json.load(resp)
