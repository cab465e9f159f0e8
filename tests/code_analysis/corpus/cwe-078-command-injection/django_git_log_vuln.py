import subprocess

from django.http import HttpResponse

REPO = "/srv/repos/website"


def changelog(request):
    branch = request.GET.get("branch", "main")
    out = subprocess.check_output("git -C " + REPO + " log --oneline -n 20 " + branch, shell=True)  # expect: CWE-78
    return HttpResponse(out, content_type="text/plain")
