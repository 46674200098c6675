"""Bid files (R5.1–R5.3): tenders, sealed bids (detached CMS signature + AES-256-GCM envelope for the bidder's own
encryption certificate), submission before the deadline, opening with the claimant's authorisation."""
