"""The Django admin is the operator's (README, "Access"): API tokens are listed by their prefix
only, since their keys are not stored, and are made with ``manage.py drf_create_token``."""

from django.contrib import admin

from .models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "user", "created_at"]
    search_fields = ["user__username", "prefix"]
    readonly_fields = ["prefix", "user", "created_at"]
    fields = readonly_fields

    def has_add_permission(self, request) -> bool:
        return False  # a key shown in a browser page would outlive the page

    def has_change_permission(self, request, obj=None) -> bool:
        return False
