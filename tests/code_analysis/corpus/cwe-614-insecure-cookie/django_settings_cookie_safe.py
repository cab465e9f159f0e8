import os

SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["portal.example.com"]
INSTALLED_APPS = ["django.contrib.sessions", "portal"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
