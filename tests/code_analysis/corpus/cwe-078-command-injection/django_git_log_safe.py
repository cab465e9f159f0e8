import subprocess

from django.http import HttpResponse, HttpResponseBadRequest

REPO = "/srv/repos/website"
ALLOWED_BRANCHES = ("main", "develop", "release")


def changelog(request):
    branch = request.GET.get("branch", "main")
    if branch not in ALLOWED_BRANCHES:
        return HttpResponseBadRequest("unknown branch")
    out = subprocess.check_output("git -C " + REPO + " log --oneline -n 20 " + branch, shell=True)
    return HttpResponse(out, content_type="text/plain")
