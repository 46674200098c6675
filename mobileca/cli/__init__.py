"""``mobileca``: the command-line tool of the remote-signing API (login on the phone, list credentials, sign files).
It talks HTTP to the service and imports nothing of the server side but cmslib and the kernel's clock."""
