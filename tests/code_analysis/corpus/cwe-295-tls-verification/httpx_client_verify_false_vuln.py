import httpx


class InventoryClient:
    def __init__(self, base_url: str):
        self._client = httpx.Client(base_url=base_url, timeout=10.0, verify=False)  # expect: CWE-295

    def stock_level(self, sku: str) -> int:
        return self._client.get(f"/stock/{sku}").json()["level"]
