"""The mobile CA platform and its signing service."""
