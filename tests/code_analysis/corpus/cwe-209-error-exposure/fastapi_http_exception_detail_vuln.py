from fastapi import FastAPI, HTTPException

from .payments import charge_card

app = FastAPI()


@app.post("/checkout")
def checkout(order_id: int):
    try:
        receipt = charge_card(order_id)
    except Exception as err:
        raise HTTPException(status_code=502, detail=f"payment provider error: {err!r}")  # expect: CWE-209
    return {"receipt": receipt}
