from fastapi import FastAPI

app = FastAPI(title="Billing API", debug=True)  # expect: CWE-215


@app.get("/invoices/{invoice_id}")
def get_invoice(invoice_id: int):
    return {"id": invoice_id}
