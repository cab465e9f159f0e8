from django.http import JsonResponse


def sso_login(request):
    sid = request.session.session_key
    response = JsonResponse({"ok": True})
    response.set_cookie("sessionid", sid)  # expect: CWE-614
    return response
