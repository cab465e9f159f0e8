import random

from django.core.mail import send_mail


def send_login_code(user):
    otp = random.randint(100000, 999999)  # expect: CWE-330
    user.profile.pending_otp = str(otp)
    user.profile.save()
    send_mail("Your login code", f"Your code is {otp}", "no-reply@example.com", [user.email])
