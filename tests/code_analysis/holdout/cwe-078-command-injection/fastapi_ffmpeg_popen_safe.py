import subprocess

from fastapi import FastAPI

app = FastAPI()


@app.post("/transcode")
def transcode(source_url: str):
    proc = subprocess.Popen(["ffmpeg", "-y", "-i", source_url, "/tmp/out.mp4"])
    return {"pid": proc.pid}
