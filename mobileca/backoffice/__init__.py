"""The operators' back office (R6.1): views only; every change goes through the owning part's services."""
