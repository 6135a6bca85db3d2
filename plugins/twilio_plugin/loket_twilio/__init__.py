"""loket-twilio: the ``sms`` and ``whatsapp`` message channels of loket, sent through
Twilio's Messages API."""

__version__ = "0.1.0"
