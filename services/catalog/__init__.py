"""The programme: films, series, venues, auditoriums and their seat maps, screenings."""
