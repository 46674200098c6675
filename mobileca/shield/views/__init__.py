"""The signing service's phone (H5) pages, by job: ``claim`` (the scanned QR code, the Alipay login, the claim's
steps), ``members`` (「成员管理」), ``keyuse`` (the tool's login, authorisations, my credentials, PIN, records);
``common`` holds the phone login (``phone_login_required``) and the refusal pages."""
