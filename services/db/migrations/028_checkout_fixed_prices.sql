-- A checkout fixes its prices: the priced lines the patron was charged for (per seat its
-- ticket type, list price, discount, fee, tax, amount and membership number; the currency, the
-- total and the discount code), kept so that the payment makes the booking with them rather
-- than pricing it again (a fee, price or tax rate changed meanwhile, a code deactivated or a
-- membership expired must not change what was charged, nor stop the payment being acted on).
-- NULL only on checkouts started before this migration, which are priced when paid.
ALTER TABLE checkout ADD COLUMN priced jsonb;
