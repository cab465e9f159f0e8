from django.http import HttpResponse
from jinja2 import Environment, select_autoescape

env = Environment(autoescape=select_autoescape())


def preview_email(request):
    subject = request.POST.get("subject", "")
    tmpl = env.from_string("Subject: {{ subject }}\n\n{{ body }}")
    return HttpResponse(tmpl.render(subject=subject, body="(preview)"), content_type="text/plain")
