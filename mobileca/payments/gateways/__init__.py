"""Payment gateway clients: thin, on ``cryptography`` and ``httpx``, base URLs and keys from settings only.

The public SDKs hard-code production hosts and have known verification pitfalls; they serve only as test oracles.
Every verification failure raises ``SignatureInvalid`` with the cause for the log; callers show nothing of it.
"""
