import secrets

from django.core.mail import send_mail


def send_login_code(user):
    otp = 100000 + secrets.randbelow(900000)
    user.profile.pending_otp = str(otp)
    user.profile.save()
    send_mail("Your login code", f"Your code is {otp}", "no-reply@example.com", [user.email])
