from django.http import JsonResponse

from .models import Order


def orders_for_customer(request):
    customer = request.GET["customer"]
    orders = Order.objects.raw(
        "SELECT * FROM shop_order WHERE customer_ref = '%s' ORDER BY created" % customer  # expect: CWE-89
    )
    return JsonResponse({"orders": [o.pk for o in orders]})
