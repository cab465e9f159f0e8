from fastapi import FastAPI

app = FastAPI()


@app.get("/compute")
def compute(a: float, b: float, op: str):
    result = eval(f"{a} {op} {b}")  # expect: CWE-95
    return {"result": result}
