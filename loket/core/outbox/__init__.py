"""The transactional outbox: whatever must leave loket because of a change (host events,
messages to people by e-mail, SMS or WhatsApp) is written as rows in the change's own
transaction and delivered by the worker at least once, in order per payment."""
