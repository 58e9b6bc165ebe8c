from .access import teams_for


def teams(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"user_teams": teams_for(user), "active_team": request.team}
