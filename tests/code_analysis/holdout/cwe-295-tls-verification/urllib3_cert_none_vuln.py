import urllib3


def client():
    return urllib3.PoolManager(cert_reqs="CERT_NONE")  # expect: CWE-295
