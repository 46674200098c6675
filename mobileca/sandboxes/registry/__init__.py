"""Business-registry sandbox (国家企业信用信息公示系统 stand-in): look up an enterprise by unified social credit code;
the answer (name exactly as on the business licence, legal representative, status) is signed with the registry's
RSA key so the signing service can trust it."""
