from django.http import JsonResponse
from django.views.decorators.http import require_POST


@require_POST
def apply_coupon(request):
    discount = request.POST.get("discount_percent", "0")
    request.session["discount_percent"] = discount  # expect: CWE-501
    return JsonResponse({"applied": True})
