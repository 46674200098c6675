"""The message centre on the workbench: the platform's notices to an enterprise (payment received, card activated,
renewal completed, application reviewed, physical CA dispatched)."""
