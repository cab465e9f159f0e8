from django.shortcuts import render
from django.utils.safestring import mark_safe


def product_page(request, slug):
    highlight = request.GET.get("highlight", "")
    banner = mark_safe("<div class='banner'>Showing results for <em>%s</em></div>" % highlight)  # expect: CWE-79
    return render(request, "product.html", {"slug": slug, "banner": banner})
