import requests
from django.http import JsonResponse
from django.views.decorators.http import require_POST


@require_POST
def test_webhook(request):
    endpoint = request.POST["endpoint"]
    r = requests.post(endpoint, json={"event": "ping"}, timeout=5)  # expect: CWE-918
    return JsonResponse({"delivered": r.ok})
