from django.http import HttpResponse


def category_page(request, category):
    return HttpResponse(f"<h1>Category: {category}</h1>")  # expect: CWE-79
