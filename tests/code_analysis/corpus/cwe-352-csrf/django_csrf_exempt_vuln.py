from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .models import Account


@csrf_exempt  # expect: CWE-352
def change_email(request):
    if request.method != "POST":
        return JsonResponse({"error": "POST only"}, status=405)
    account = Account.objects.get(user=request.user)
    account.email = request.POST["email"]
    account.save()
    return JsonResponse({"ok": True})
