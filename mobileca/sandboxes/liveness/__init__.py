"""Face-liveness sandbox: the service opens a check for a person (server to server), the phone is sent to a page
where the tester passes or fails it, and the result is fetched signed with the provider's RSA key."""
