from django.urls import path

from mobileca.bidding import views

app_name = "bidding"
urlpatterns = [
    path("", views.tender_list, name="tenders"),
    path("tenders/<str:project_no>/", views.tender_detail, name="tender"),
    path("tenders/<str:project_no>/upload/", views.bid_upload, name="upload"),
    path("bids/<int:bid_id>/", views.bid_detail, name="bid"),
    path("bids/<int:bid_id>/open/", views.bid_open, name="open"),
    path("bids/<int:bid_id>/decrypt-test/", views.bid_decrypt_test, name="decrypt_test"),
    path("api/tenders/<str:project_no>", views.api_tender, name="api_tender"),
    path("api/tenders/<str:project_no>/bids", views.api_bid_announce, name="api_bids"),
    path("api/bids/<int:bid_id>/ciphertext", views.api_bid_ciphertext, name="api_ciphertext"),
]
