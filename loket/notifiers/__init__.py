"""Built-in notifier plugins (they import only :mod:`loket.plugin_api`)."""
