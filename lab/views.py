"""Team pages: home (the active team at a glance) and the team switcher."""

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from labeling.models import Instance, Report, Study
from teams.access import get_visible_or_404, teams_for
from teams.middleware import SESSION_KEY
from teams.models import Team


@login_required
def home(request: HttpRequest) -> HttpResponse:
    teams = teams_for(request.user).annotate(members=Count("memberships"))
    team = request.team
    counts = {}
    if team is not None:
        counts = {
            "studies": Study.objects.of_team(team).count(),
            "images": Instance.objects.of_team(team).count(),
            "patients": Study.objects.of_team(team).values("patient_id").distinct().count(),
            "reports": Report.objects.of_team(team).count(),
            "decode_errors": Instance.objects.of_team(team).exclude(decode_error="").count(),
        }
    return render(request, "lab/home.html", {"teams": teams, "team": team, "counts": counts})


@login_required
@require_POST
def switch_team(request: HttpRequest) -> HttpResponse:
    team = get_visible_or_404(Team, request.user, pk=request.POST.get("team"))
    request.session[SESSION_KEY] = team.pk
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = "home"
    return redirect(target)
