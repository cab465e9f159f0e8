from pathlib import Path

from fastapi import FastAPI, UploadFile

app = FastAPI()
UPLOADS = Path("/srv/uploads")


@app.post("/files")
async def store(file: UploadFile):
    target = UPLOADS / file.filename
    target.write_bytes(await file.read())  # expect: CWE-22
    return {"stored": str(target)}
