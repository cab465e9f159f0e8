from urllib.request import urlopen

from django.http import JsonResponse


def import_feed(request):
    with urlopen(request.POST["feed_url"], timeout=5) as resp:  # expect: CWE-918
        body = resp.read()
    return JsonResponse({"bytes": len(body)})
