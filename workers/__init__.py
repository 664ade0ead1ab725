"""Everything that runs beside the API: the outbox relay, stream consumers and arq jobs."""
