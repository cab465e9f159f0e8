import ldap
import ldap.filter
from django.http import JsonResponse

BASE_DN = "dc=corp,dc=example"


def group_members(request):
    group = request.GET.get("group", "")
    conn = ldap.initialize("ldap://ldap.corp.example")
    search_filter = ldap.filter.filter_format("(&(objectClass=groupOfNames)(cn=%s))", [group])
    results = conn.search_s(BASE_DN, ldap.SCOPE_SUBTREE, search_filter, ["member"])
    return JsonResponse({"members": [dn for dn, _ in results]})
