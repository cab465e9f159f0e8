import ldap
from django.http import JsonResponse

BASE_DN = "dc=corp,dc=example"


def group_members(request):
    group = request.GET.get("group", "")
    conn = ldap.initialize("ldap://ldap.corp.example")
    results = conn.search_s(BASE_DN, ldap.SCOPE_SUBTREE, "(&(objectClass=groupOfNames)(cn=" + group + "))", ["member"])  # expect: CWE-90
    return JsonResponse({"members": [dn for dn, _ in results]})
