"""Platform users, bidder enterprises, login and the workbench (R1.1)."""
