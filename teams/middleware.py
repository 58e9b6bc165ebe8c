"""The active team: which of a user's teams the pages show. Access is not decided here."""

from .access import teams_for

SESSION_KEY = "active_team_id"


def active_team(request):
    if not request.user.is_authenticated:
        return None
    teams = teams_for(request.user)
    chosen = request.session.get(SESSION_KEY)
    team = teams.filter(pk=chosen).first() if chosen else None
    return team or teams.first()


class ActiveTeamMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.team = active_team(request)
        return self.get_response(request)
