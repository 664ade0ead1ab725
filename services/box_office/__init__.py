"""The box office: seat maps, holds, bookings, and the rules between them."""
