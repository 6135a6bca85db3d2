"""Documents people print or download: receipts and credit notes as PDF."""
