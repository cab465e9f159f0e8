import subprocess

from fastapi import FastAPI

app = FastAPI()


@app.get("/dns/{domain}")
async def lookup(domain: str):
    proc = subprocess.run(["nslookup", domain], capture_output=True, text=True, check=False)
    output = proc.stdout
    return {"domain": domain, "output": output}
