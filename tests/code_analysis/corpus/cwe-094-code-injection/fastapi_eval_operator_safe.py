import operator

from fastapi import FastAPI, HTTPException

app = FastAPI()
OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


@app.get("/compute")
def compute(a: float, b: float, op: str):
    if op not in OPERATORS:
        raise HTTPException(status_code=400, detail="unsupported operator")
    result = OPERATORS[op](a, b)
    return {"result": result}
