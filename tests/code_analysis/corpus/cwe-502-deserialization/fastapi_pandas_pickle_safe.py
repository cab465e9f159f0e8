import pandas as pd
from fastapi import FastAPI, UploadFile

app = FastAPI()


@app.post("/datasets")
async def upload_dataset(file: UploadFile):
    frame = pd.read_csv(file.file)
    return {"rows": len(frame), "columns": list(frame.columns)}
