from fastapi import FastAPI, Response

app = FastAPI()


@app.post("/auth/refresh")
def refresh(response: Response):
    refresh_token = rotate_refresh_token()
    response.set_cookie(key="refresh_token", value=refresh_token, httponly=False)  # expect: CWE-1004
    return {"ok": True}


def rotate_refresh_token():
    return "opaque"
