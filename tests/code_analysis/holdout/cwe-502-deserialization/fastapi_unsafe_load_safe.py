import yaml
from fastapi import FastAPI, Request

app = FastAPI()


@app.post("/config")
async def set_config(request: Request):
    body = await request.body()
    config = yaml.safe_load(body)
    return {"keys": sorted(config)}
