from django.http import JsonResponse
from django.views.decorators.http import require_POST

COUPONS = {"WELCOME10": 10, "SPRING15": 15}


@require_POST
def apply_coupon(request):
    discount = COUPONS.get(request.POST.get("coupon", ""), 0)
    request.session["discount_percent"] = discount
    return JsonResponse({"applied": True})
