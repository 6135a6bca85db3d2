"""Auto-pay: stored mandates, the consumer's election, and the charges made without them."""
