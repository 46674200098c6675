from django.apps import AppConfig


class SandboxWeChatPayConfig(AppConfig):
    name = "mobileca.sandboxes.wechatpay"
    label = "sandbox_wechatpay"
    verbose_name = "沙箱：微信支付"
