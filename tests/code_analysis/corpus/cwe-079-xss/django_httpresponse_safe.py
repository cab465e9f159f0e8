from django.http import HttpResponse
from django.utils.html import escape


def greet(request):
    visitor = request.GET.get("name", "guest")
    html = "<html><body><p>Hello, " + escape(visitor) + "</p></body></html>"
    return HttpResponse(html)
