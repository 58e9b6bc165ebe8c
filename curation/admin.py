"""Read-mostly admin: staff can inspect runs, decisions, label sets and the audit log."""

from django.contrib import admin

from .models import AuditEntry, ClauseDecision, ClusterRun, Label, LabelSet, ProposedCluster


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ["key", "name_en", "name_zh", "team", "position"]
    list_filter = ["team"]


@admin.register(ClusterRun)
class ClusterRunAdmin(admin.ModelAdmin):
    list_display = ["id", "team", "k", "seed", "status", "progress", "created_at"]
    list_filter = ["team", "job__status"]
    list_select_related = ["job"]
    readonly_fields = ["timings", "k_curve", "cues", "failure", "job"]


@admin.register(ProposedCluster)
class ProposedClusterAdmin(admin.ModelAdmin):
    list_display = ["name", "run", "polarity", "verdict", "label", "clause_count", "version"]
    list_filter = ["team", "polarity", "verdict"]


@admin.register(ClauseDecision)
class ClauseDecisionAdmin(admin.ModelAdmin):
    list_display = ["normalized", "verdict", "label", "group", "automatic", "updated_by"]
    list_filter = ["team", "verdict", "automatic"]
    search_fields = ["normalized", "group"]


@admin.register(LabelSet)
class LabelSetAdmin(admin.ModelAdmin):
    list_display = ["version", "team", "content_hash", "author", "created_at"]
    list_filter = ["team"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # frozen

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "team", "user", "action", "summary", "undone"]
    list_filter = ["team", "action"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False
