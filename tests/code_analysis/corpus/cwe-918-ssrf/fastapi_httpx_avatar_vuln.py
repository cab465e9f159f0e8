import httpx
from fastapi import FastAPI

app = FastAPI()


@app.post("/profile/avatar")
async def import_avatar(image_url: str):
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(image_url)  # expect: CWE-918
    return {"bytes": len(response.content)}
