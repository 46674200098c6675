from django.apps import AppConfig


class BiddingConfig(AppConfig):
    name = "mobileca.bidding"
    label = "bidding"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # R4.2: a renewal lists the card's sealed bids not yet opened (they would become unreadable).
        from mobileca.bidding.services import pending_bids_of
        from mobileca.shield.facade import register_pending_bids_provider

        register_pending_bids_provider(pending_bids_of)
