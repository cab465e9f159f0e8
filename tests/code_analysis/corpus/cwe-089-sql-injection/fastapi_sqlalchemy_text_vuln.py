from fastapi import Depends, FastAPI
from sqlalchemy import text
from sqlalchemy.orm import Session

from .db import get_session

app = FastAPI()


@app.get("/products")
def list_products(category: str, session: Session = Depends(get_session)):
    stmt = text(f"SELECT id, title, price FROM products WHERE category = '{category}'")  # expect: CWE-89
    result = session.execute(stmt)
    return [dict(row._mapping) for row in result]
