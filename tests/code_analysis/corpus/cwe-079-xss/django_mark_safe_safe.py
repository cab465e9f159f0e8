from django.shortcuts import render
from django.utils.html import format_html


def product_page(request, slug):
    highlight = request.GET.get("highlight", "")
    banner = format_html("<div class='banner'>Showing results for <em>{}</em></div>", highlight)
    return render(request, "product.html", {"slug": slug, "banner": banner})
