"""``/transparency/v1/``: the transparency log's public read side (``views.py``)."""

from django.urls import path

from mobileca.audit import views

app_name = "transparency"

urlpatterns = [
    path("sth", views.sth, name="sth"),
    path("public-key", views.public_key, name="public_key"),
    path("proof-by-index", views.proof_by_index, name="proof_by_index"),
    path("proof-by-hash", views.proof_by_hash, name="proof_by_hash"),
    path("sth-consistency", views.sth_consistency, name="sth_consistency"),
]
