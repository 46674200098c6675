"""The platform's certificate cards (「CA 续费申领」, R2.1–R2.4): one per purchased mobile CA, with its 证书ID,
purchase records and, once claimed through the signing service, its 服务编号 and 服务到期时间."""
