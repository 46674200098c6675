"""WeChat Pay APIv3 sandbox: Native pay, query and close, verifying ``WECHATPAY2-SHA256-RSA2048`` request signatures
with the merchant's public key, signing every answer with the WeChat Pay public-key-mode key (``PUB_KEY_ID_…``), a
cashier page where a tester "scans" and pays or declines, and callbacks encrypted with AEAD_AES_256_GCM under the
APIv3 key, retried on WeChat's schedule (time-scaled) until the merchant answers 200/204."""
