"""The prices part's SQL: discount codes and their uses, memberships, venue price settings."""

from services.prices.store._codes import (
    count_uses,
    create_code,
    drop_use,
    get_code,
    list_codes,
    lock_code,
    set_code_active,
    take_use,
    use_of_hold,
)
from services.prices.store._memberships import (
    create_membership,
    list_memberships,
    members_by_number,
    set_membership_active,
)
from services.prices.store._venues import (
    ScreeningTerms,
    screening_terms,
    update_venue_prices,
    venue_prices,
)

__all__ = [
    "ScreeningTerms",
    "count_uses",
    "create_code",
    "create_membership",
    "drop_use",
    "get_code",
    "list_codes",
    "list_memberships",
    "lock_code",
    "members_by_number",
    "screening_terms",
    "set_code_active",
    "set_membership_active",
    "take_use",
    "update_venue_prices",
    "use_of_hold",
    "venue_prices",
]
