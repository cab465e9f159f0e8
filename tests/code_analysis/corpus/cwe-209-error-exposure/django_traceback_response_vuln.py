import traceback

from django.http import HttpResponse, HttpResponseServerError

from .reports import build_report


def monthly_report(request):
    try:
        pdf = build_report(request.user, month=request.GET.get("month"))
    except Exception:
        return HttpResponseServerError(traceback.format_exc(), content_type="text/plain")  # expect: CWE-209
    return HttpResponse(pdf, content_type="application/pdf")
