import re

from django.http import JsonResponse

from .models import LogLine


def grep_logs(request):
    needle = request.GET["needle"]
    rx = re.compile(".*" + needle + ".*", re.IGNORECASE)  # expect: CWE-1333
    hits = [line.text for line in LogLine.objects.all()[:1000] if rx.match(line.text)]
    return JsonResponse({"hits": hits})
