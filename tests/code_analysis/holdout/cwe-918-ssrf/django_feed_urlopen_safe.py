from urllib.parse import urlsplit
from urllib.request import urlopen

from django.http import HttpResponseBadRequest, JsonResponse

FEED_HOSTS = {"news.example.org", "blog.example.org"}


def import_feed(request):
    feed_url = request.POST["feed_url"]
    if urlsplit(feed_url).hostname not in FEED_HOSTS:
        return HttpResponseBadRequest("feed host not allowed")
    with urlopen(feed_url, timeout=5) as resp:
        body = resp.read()
    return JsonResponse({"bytes": len(body)})
