from django.http import HttpResponse
from django.utils.html import format_html


def category_page(request, category):
    return HttpResponse(format_html("<h1>Category: {}</h1>", category))
