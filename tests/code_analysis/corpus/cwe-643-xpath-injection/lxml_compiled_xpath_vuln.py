from fastapi import FastAPI
from lxml import etree

app = FastAPI()
LEDGER = etree.parse("/srv/ledger.xml")


@app.get("/accounts/{account_id}/balance")
def balance(account_id: str):
    find_balance = etree.XPath("//account[@id='%s']/balance/text()" % account_id)  # expect: CWE-643
    values = find_balance(LEDGER)
    return {"balance": values[0] if values else None}
