import subprocess

from fastapi import FastAPI

app = FastAPI()


@app.post("/transcode")
def transcode(source_url: str):
    proc = subprocess.Popen(f"ffmpeg -y -i {source_url} /tmp/out.mp4", shell=True)  # expect: CWE-78
    return {"pid": proc.pid}
