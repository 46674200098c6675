"""Local stand-ins for external systems, speaking their real protocols (development, tests, demo only).

Each sandbox is its own Django app with its own keys and tables, reached by the platform over HTTP exactly like the
real service; platform code never imports it. ``common`` holds what the sandboxes share among themselves.
"""
