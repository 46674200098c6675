"""Alipay open-platform sandbox: ``gateway.do`` (precreate, page pay, query, close, refund) with RSA2 signatures
verified and produced as Alipay does, a cashier page where a tester "scans" and pays or declines, and signed
asynchronous notifications retried on Alipay's schedule (time-scaled) until the merchant answers ``success``."""
