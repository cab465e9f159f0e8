import os

from django.conf import settings
from django.http import HttpResponse


def invoice_pdf(request):
    doc = os.path.basename(request.GET["doc"])
    with open(settings.MEDIA_ROOT + "/invoices/" + doc, "rb") as fh:
        data = fh.read()
    return HttpResponse(data, content_type="application/pdf")
