import jsonpickle
from django.http import JsonResponse


def restore_cart(request):
    cart = jsonpickle.decode(request.body)  # expect: CWE-502
    return JsonResponse({"items": len(cart["items"])})
