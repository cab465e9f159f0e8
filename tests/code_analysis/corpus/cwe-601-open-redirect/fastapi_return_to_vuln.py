from fastapi import FastAPI
from fastapi.responses import RedirectResponse

app = FastAPI()


@app.get("/sso/callback")
async def sso_callback(code: str, return_to: str = "/"):
    await exchange_code(code)
    return RedirectResponse(url=return_to, status_code=303)  # expect: CWE-601


async def exchange_code(code: str) -> None:
    return None
