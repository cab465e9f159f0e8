from django.db import connection
from django.http import JsonResponse


def leaderboard(request):
    sort = request.GET.get("sort", "score")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT player, score FROM game_score ORDER BY {sort} DESC LIMIT 10")  # expect: CWE-89
        rows = cursor.fetchall()
    return JsonResponse({"rows": rows})
