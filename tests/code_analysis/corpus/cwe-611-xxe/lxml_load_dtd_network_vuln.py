from fastapi import FastAPI, UploadFile
from lxml import etree

app = FastAPI()


@app.post("/invoices/xml")
async def upload_invoice(file: UploadFile):
    parser = etree.XMLParser(load_dtd=True, no_network=False)
    tree = etree.parse(file.file, parser)  # expect: CWE-611
    return {"root": tree.getroot().tag}
