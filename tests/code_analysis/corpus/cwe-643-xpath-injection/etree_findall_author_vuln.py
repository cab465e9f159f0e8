import xml.etree.ElementTree as ET

from django.http import JsonResponse

CATALOG = ET.parse("/srv/data/catalog.xml").getroot()


def books_by_author(request):
    author = request.GET["author"]
    books = CATALOG.findall(".//book[@author='" + author + "']")  # expect: CWE-643
    return JsonResponse({"titles": [b.findtext("title") for b in books]})
