"""Phone-identity sandbox: the Alipay account login the signing service's phone pages use (an OAuth-style
authorisation code exchanged server to server for an identity assertion signed with the provider's RSA key).

A page lists the test people (name, resident ID, phone) and has a form to add one; choosing one is "logging in with
Alipay on the phone"."""
