from fastapi import Depends, FastAPI
from sqlalchemy import text
from sqlalchemy.orm import Session

from .db import get_session

app = FastAPI()


@app.get("/products")
def list_products(category: str, session: Session = Depends(get_session)):
    stmt = text("SELECT id, title, price FROM products WHERE category = :category")
    result = session.execute(stmt, {"category": category})
    return [dict(row._mapping) for row in result]
