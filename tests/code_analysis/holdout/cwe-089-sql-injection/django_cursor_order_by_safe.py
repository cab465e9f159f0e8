from django.db import connection
from django.http import JsonResponse

SORT_COLUMNS = {"score": "score", "date": "created_at"}


def leaderboard(request):
    sort = SORT_COLUMNS.get(request.GET.get("sort", "score"), "score")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT player, score FROM game_score ORDER BY {sort} DESC LIMIT 10")
        rows = cursor.fetchall()
    return JsonResponse({"rows": rows})
