"""The Django admin is the operator's, not a team's: no team role reaches it, the demo's admin
is a team admin and not a superuser, and even an operator never sees an API token's key."""

from django.contrib.auth import get_user_model
from django.urls import reverse

from teams.models import ApiToken
from teams.tokens import issue_token


def test_no_team_role_reaches_the_django_admin(client, personas):
    client.force_login(personas.owner)  # the admin of Radiology A
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))


def test_the_operator_sees_tokens_by_prefix_only_and_cannot_make_one_there(client, personas):
    key = issue_token(personas.owner)
    token = ApiToken.objects.get()
    client.force_login(get_user_model().objects.create_superuser("operator"))
    listing = client.get(reverse("admin:teams_apitoken_changelist"))
    assert listing.status_code == 200 and token.prefix in listing.content.decode()
    page = client.get(reverse("admin:teams_apitoken_change", args=[token.pk]))
    assert page.status_code == 200
    for response in (listing, page):
        text = response.content.decode()
        assert key not in text and token.digest not in text
    assert client.get(reverse("admin:teams_apitoken_add")).status_code == 403
    assert client.get("/admin/authtoken/tokenproxy/").status_code == 404


def test_the_operator_revokes_a_token_in_the_admin(client, personas):
    key = issue_token(personas.owner)
    token = ApiToken.objects.get()
    client.force_login(get_user_model().objects.create_superuser("operator"))
    delete = reverse("admin:teams_apitoken_delete", args=[token.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 302
    other = client.__class__(HTTP_AUTHORIZATION=f"Token {key}")
    assert other.get(reverse("team-list")).status_code == 401
