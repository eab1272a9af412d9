"""Plumbing every app shares and none owns: queueing tasks (`core.tasks`), caching
(`core.cache`). Not a Django app: no models, nothing of the domain."""
