"""Products, regions and orders (R1.2–R1.5, R2.3): what is bought, where it is handled, and the order's life."""
