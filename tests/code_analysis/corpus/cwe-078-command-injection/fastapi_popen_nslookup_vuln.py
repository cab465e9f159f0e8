import os

from fastapi import FastAPI

app = FastAPI()


@app.get("/dns/{domain}")
async def lookup(domain: str):
    with os.popen("nslookup %s" % domain) as proc:  # expect: CWE-78
        output = proc.read()
    return {"domain": domain, "output": output}
