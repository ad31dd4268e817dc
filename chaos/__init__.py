"""`make chaos`: faults injected one at a time into a stack the suite owns, under API load.

It starts its own PostgreSQL cluster (initdb), Redis, media tmpfs, two web processes behind
one address, three Celery workers and one beat, so a restart or an outage never touches a
service it does not own (the machine's PostgreSQL and Redis serve other people's tests).
"""
