"""Staff: accounts, authentication and roles, the live feed and the /staff page."""
