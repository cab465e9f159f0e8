from fastapi import FastAPI
from fastapi.responses import HTMLResponse

app = FastAPI()


@app.get("/welcome", response_class=HTMLResponse)
async def welcome(user: str = "friend"):
    body = "<html><body><h1>Welcome, {}!</h1></body></html>".format(user)
    return HTMLResponse(content=body)  # expect: CWE-79
