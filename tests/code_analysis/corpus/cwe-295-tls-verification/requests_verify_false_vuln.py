import requests

PARTNER_API = "https://partner.example.com/api/v2"


def fetch_rates(currency):
    resp = requests.get(f"{PARTNER_API}/rates/{currency}", timeout=10, verify=False)  # expect: CWE-295
    resp.raise_for_status()
    return resp.json()
