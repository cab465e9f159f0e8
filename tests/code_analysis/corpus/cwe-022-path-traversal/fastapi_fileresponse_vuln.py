from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse

app = FastAPI()
REPORTS = Path("/srv/reports")


@app.get("/reports/{report_name}")
async def get_report(report_name: str):
    target = (REPORTS / report_name).resolve()
    return FileResponse(target)  # expect: CWE-22
