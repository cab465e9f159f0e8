from django.http import JsonResponse


def sso_login(request):
    sid = request.session.session_key
    response = JsonResponse({"ok": True})
    response.set_cookie("sessionid", sid, secure=True, httponly=True, samesite="Lax")
    return response
