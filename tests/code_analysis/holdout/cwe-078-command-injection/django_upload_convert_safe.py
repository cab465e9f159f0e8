import os
import shlex

from django.http import JsonResponse


def thumbnail(request):
    upload = request.FILES["image"]
    os.system(f"convert /srv/incoming/{shlex.quote(upload.name)} -resize 128x128 /srv/thumbs/out.png")
    return JsonResponse({"ok": True})
