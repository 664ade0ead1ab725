"""SQL for the programme, split by what it stores; every function takes a connection first."""

from services.catalog.store._films import (
    create_film,
    film_id_for,
    get_film,
    list_films,
    update_film,
)
from services.catalog.store._places import (
    create_auditorium,
    create_series,
    create_venue,
    get_auditorium,
    get_series,
    get_venue,
    list_series,
    list_venues,
    series_ids_for,
)
from services.catalog.store._screenings import (
    ScreeningFilter,
    cancel_screening,
    create_screening,
    get_screening,
    list_screenings,
    update_screening,
)

__all__ = [
    "ScreeningFilter",
    "cancel_screening",
    "create_auditorium",
    "create_film",
    "create_screening",
    "create_series",
    "create_venue",
    "film_id_for",
    "get_auditorium",
    "get_film",
    "get_screening",
    "get_series",
    "get_venue",
    "list_films",
    "list_screenings",
    "list_series",
    "list_venues",
    "series_ids_for",
    "update_film",
    "update_screening",
]
