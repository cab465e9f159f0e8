from fastapi import FastAPI, HTTPException
from fastapi.responses import RedirectResponse

app = FastAPI()
ALLOWED_RETURN_PATHS = {"/", "/account", "/orders"}


@app.get("/sso/callback")
async def sso_callback(code: str, return_to: str = "/"):
    await exchange_code(code)
    if return_to not in ALLOWED_RETURN_PATHS:
        raise HTTPException(status_code=400, detail="invalid return_to")
    return RedirectResponse(url=return_to, status_code=303)


async def exchange_code(code: str) -> None:
    return None
