from django.http import HttpResponse


def greet(request):
    visitor = request.GET.get("name", "guest")
    html = "<html><body><p>Hello, " + visitor + "</p></body></html>"
    return HttpResponse(html)  # expect: CWE-79
