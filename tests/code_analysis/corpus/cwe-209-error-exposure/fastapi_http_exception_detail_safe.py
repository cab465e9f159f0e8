import logging

from fastapi import FastAPI, HTTPException

from .payments import charge_card

app = FastAPI()
log = logging.getLogger(__name__)


@app.post("/checkout")
def checkout(order_id: int):
    try:
        receipt = charge_card(order_id)
    except Exception as err:
        log.error("payment provider error for order %s: %r", order_id, err)
        raise HTTPException(status_code=502, detail="payment provider unavailable, try again later")
    return {"receipt": receipt}
