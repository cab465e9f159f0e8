import os

from fastapi import FastAPI

app = FastAPI(title="Billing API", debug=os.getenv("BILLING_DEBUG") == "1")


@app.get("/invoices/{invoice_id}")
def get_invoice(invoice_id: int):
    return {"id": invoice_id}
