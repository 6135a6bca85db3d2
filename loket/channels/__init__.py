"""Built-in message channels (plugins like any other): ``log`` for development."""
