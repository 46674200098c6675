from django.contrib import admin

from mobileca.orders.models import Product, Region


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "price", "term_months", "is_active", "sort"]
    list_editable = ["is_active", "sort"]


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "is_active", "sort"]
    list_editable = ["is_active", "sort"]
