"""Payment links: a signed, unguessable URL that lets a payer review what they owe and pay
it (all, or in part when the link allows) without logging in."""
