from fastapi import FastAPI
from lxml import etree

app = FastAPI()
LEDGER = etree.parse("/srv/ledger.xml")
FIND_BALANCE = etree.XPath("//account[@id=$account_id]/balance/text()")


@app.get("/accounts/{account_id}/balance")
def balance(account_id: str):
    values = FIND_BALANCE(LEDGER, account_id=account_id)
    return {"balance": values[0] if values else None}
