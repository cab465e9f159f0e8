import io

from django.http import JsonResponse
from lxml import etree


def receive_invoice(request):
    parser = etree.XMLParser(resolve_entities=False)
    tree = etree.parse(io.BytesIO(request.body), parser)
    return JsonResponse({"root": tree.getroot().tag})
