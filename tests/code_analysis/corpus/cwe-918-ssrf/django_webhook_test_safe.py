from urllib.parse import quote

import requests
from django.http import JsonResponse
from django.views.decorators.http import require_POST


@require_POST
def test_webhook(request):
    hook_id = request.POST["hook_id"]
    r = requests.post(f"https://hooks.example.com/deliver/{quote(hook_id, safe='')}", json={"event": "ping"}, timeout=5)
    return JsonResponse({"delivered": r.ok})
