"""The signing service (the e签盾 role): claim sessions reached by QR code, phone identity, person and enterprise
verification, PIN, cloud keys and key use. The platform talks to it only through ``facade.py``, as if a third party
ran it: ids in, frozen dataclasses out.

Built so far (issue 5, part 1 of the claim flow): claim sessions with their QR tickets — valid ten minutes,
refreshable, bound to the first phone identity that scans and to no one else.
"""
