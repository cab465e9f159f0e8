import io

from django.http import JsonResponse
from lxml import etree


def receive_invoice(request):
    parser = etree.XMLParser(resolve_entities=True, no_network=False)
    tree = etree.parse(io.BytesIO(request.body), parser)  # expect: CWE-611
    return JsonResponse({"root": tree.getroot().tag})
