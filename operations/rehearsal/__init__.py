"""`manage.py rehearse`: the Seoul move end to end, through the real interfaces.

- `server.py`   serves the service over HTTP in this process (or uses --base-url)
- `runner.py`   stages with progress bars and timings
- `story.py`    the stages of the story, in order
- `summary.py`  the figures the report shows, read back from the database
"""
