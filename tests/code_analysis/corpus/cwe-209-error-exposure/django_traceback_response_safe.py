import logging

from django.http import HttpResponse, HttpResponseServerError

from .reports import build_report

log = logging.getLogger(__name__)


def monthly_report(request):
    try:
        pdf = build_report(request.user, month=request.GET.get("month"))
    except Exception:
        log.exception("report generation failed")
        return HttpResponseServerError("report generation failed", content_type="text/plain")
    return HttpResponse(pdf, content_type="application/pdf")
