"""The signing service (the e签盾 role): claim sessions reached by QR code, phone identity, person and enterprise
verification, members, PIN, cloud keys and key use. The platform talks to it only through ``facade.py``, as if a
third party ran it: ids in, frozen dataclasses out; it reaches the CA only through ``ca/facade.py``.

A rule lives in the module of its job:

* ``claims`` — a card's claim: open, bind, the steps, the enterprise, agreements, face checks, activation
* ``otp`` — the SMS code to the legal representative; ``transfers`` — the corporate-transfer verifications
* ``members`` — who acts for an enterprise: admin, requests, approvals, removal
* ``pin`` — the PIN: format, check and lock-out, change, reset (R4.3)
* ``callers`` — API clients, bearer tokens, the tool's device login, which credentials a caller sees
* ``keyuse`` — authorisations, signing, decrypting (R4.5, R4.6); ``records`` — operation records (R4.4)
* ``renewal`` — renewal and expiry; ``faces`` — face checks at the liveness provider
* ``transitions`` — every status table and its one writer; ``locks`` — the one lock order
* ``identity``, ``liveness``, ``registry``, ``sms``, ``bank`` — the external providers' clients
"""
