import os

from django.core.wsgi import get_wsgi_application

from mobileca.ca.responder import OcspResponder

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# The OCSP responder answers /pki/ocsp before Django's request handling (issue 16); everything else goes to Django.
application = OcspResponder(get_wsgi_application())
