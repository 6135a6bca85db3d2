"""Pages for people, rendered on the server: the payer pages and the console.

Templates live in ``loket/web/templates`` (Jinja2, autoescaped), the one stylesheet in
``loket/web/static``. Pages call the same core functions as the REST API; they never touch
the database themselves.
"""
