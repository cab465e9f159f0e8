from pathlib import Path

from fastapi import FastAPI, UploadFile

app = FastAPI()
UPLOADS = Path("/srv/uploads")


@app.post("/files")
async def store(file: UploadFile):
    target = UPLOADS / Path(file.filename).name
    target.write_bytes(await file.read())
    return {"stored": str(target)}
