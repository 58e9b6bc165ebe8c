from rest_framework import serializers

from .models import Membership, Team


class TeamSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Team
        fields = ["id", "name", "slug", "created_at", "deidentify", "role"]
        read_only_fields = fields

    def get_role(self, team: Team) -> str | None:
        user = self.context["request"].user
        membership = next((m for m in team.memberships.all() if m.user_id == user.pk), None)
        return membership.role if membership else None


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "username", "role", "joined_at"]
        read_only_fields = fields
