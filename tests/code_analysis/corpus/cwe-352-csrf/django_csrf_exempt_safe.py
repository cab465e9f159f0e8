from django.http import JsonResponse
from django.views.decorators.http import require_POST

from .models import Account


@require_POST
def change_email(request):
    account = Account.objects.get(user=request.user)
    account.email = request.POST["email"]
    account.save()
    return JsonResponse({"ok": True})
