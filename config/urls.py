from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from mobileca.ca.views import tsa
from mobileca.shield.api import api as csc_api

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="accounts:workbench", permanent=False)),
    path("accounts/", include("mobileca.accounts.urls")),
    path("ca/", include("mobileca.orders.urls")),
    path("ca/", include("mobileca.payments.urls")),
    path("ca/", include("mobileca.cards.urls")),
    path("backoffice/physical/", include("mobileca.physical.backoffice_urls")),
    path("backoffice/", include("mobileca.backoffice.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("pki/", include("mobileca.ca.urls")),
    path("tsa", tsa, name="tsa"),  # the time-stamping authority (RFC 3161), issue 17
    path("bidding/", include("mobileca.bidding.urls")),
    path("notices/", include("mobileca.notices.urls")),
    path("help/", include("mobileca.notices.help_urls")),
    path("ca/physical/", include("mobileca.physical.urls")),
    path("h5/", include("mobileca.shield.urls")),
    path("csc/v2/", csc_api.urls),
    path("transparency/v1/", include("mobileca.audit.urls")),
    path("payments/notify/", include("mobileca.payments.notify_urls")),
    path("django-admin/", admin.site.urls),
]

if settings.MOBILECA_DEMO:
    # The sandboxes are separate apps reached over HTTP like the real services; only mounted in demo mode.
    urlpatterns += [
        path("sandbox/alipay/", include("mobileca.sandboxes.alipay.urls")),
        path("sandbox/wechatpay/", include("mobileca.sandboxes.wechatpay.urls")),
        path("sandbox/identity/", include("mobileca.sandboxes.identity.urls")),
        path("sandbox/registry/", include("mobileca.sandboxes.registry.urls")),
        path("sandbox/liveness/", include("mobileca.sandboxes.liveness.urls")),
        path("sandbox/sms/", include("mobileca.sandboxes.sms.urls")),
        path("sandbox/bank/", include("mobileca.sandboxes.bank.urls")),
    ]
