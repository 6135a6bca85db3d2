"""The built-in tracking sink plugin (it imports only :mod:`loket.plugin_api`)."""
