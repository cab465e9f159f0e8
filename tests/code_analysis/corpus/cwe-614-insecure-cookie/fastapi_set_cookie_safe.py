from fastapi import FastAPI, Response

app = FastAPI()


@app.post("/auth/refresh")
def refresh(response: Response):
    refresh_token = rotate_refresh_token()
    response.set_cookie(key="refresh_token", value=refresh_token, httponly=True, secure=True, samesite="strict")
    return {"ok": True}


def rotate_refresh_token():
    return "opaque"
