"""Money: checkouts, the payment providers' callbacks, payments, refunds (docs/money.md)."""
