"""The certificate authority (R3.7, R4.2, R4.5): a root and an issuing CA whose keys live in a key back-end (an
encrypted key file by default, a PKCS#11 token in production), the dual certificates of each credential (signing +
encryption), re-key and revocation, the CRL and the OCSP responder, and the channel check that accepts only
certificates bought and claimed through this platform.

Other parts use it through ``facade.py`` only.
"""
