from django.http import JsonResponse
from lxml import etree

CATALOG = etree.parse("/srv/catalog.xml").getroot()


def product(request):
    sku = request.GET["sku"]
    nodes = CATALOG.xpath("//product[@sku='" + sku + "']/price/text()")  # expect: CWE-643
    return JsonResponse({"price": nodes[0] if nodes else None})
