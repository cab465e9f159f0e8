import yaml
from fastapi import FastAPI, Request

app = FastAPI()


@app.post("/config")
async def set_config(request: Request):
    body = await request.body()
    config = yaml.unsafe_load(body)  # expect: CWE-502
    return {"keys": sorted(config)}
