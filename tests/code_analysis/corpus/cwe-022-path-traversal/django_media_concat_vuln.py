from django.conf import settings
from django.http import HttpResponse


def invoice_pdf(request):
    doc = request.GET["doc"]
    with open(settings.MEDIA_ROOT + "/invoices/" + doc, "rb") as fh:  # expect: CWE-22
        data = fh.read()
    return HttpResponse(data, content_type="application/pdf")
