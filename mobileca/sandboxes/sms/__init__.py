"""SMS sandbox: the service sends a text to a phone number (server to server, with its credential); a page shows
each phone's inbox, where a tester reads the code."""
