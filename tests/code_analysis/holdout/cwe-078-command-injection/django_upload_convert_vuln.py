import os

from django.http import JsonResponse


def thumbnail(request):
    upload = request.FILES["image"]
    os.system(f"convert /srv/incoming/{upload.name} -resize 128x128 /srv/thumbs/out.png")  # expect: CWE-78
    return JsonResponse({"ok": True})
