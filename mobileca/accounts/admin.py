from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from mobileca.accounts.models import Enterprise, User


@admin.register(Enterprise)
class EnterpriseAdmin(admin.ModelAdmin):
    list_display = ["name", "uscc", "legal_representative", "created_at"]
    search_fields = ["name", "uscc"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "first_name", "enterprise", "is_staff", "is_active"]
    fieldsets = (*(BaseUserAdmin.fieldsets or ()), ("投标企业", {"fields": ("enterprise", "phone")}))
    raw_id_fields = ["enterprise"]
