"""`manage.py rehearse`: the Seoul move end to end, through the real interfaces.

- `server.py`   serves the service over HTTP in this process (or uses --base-url)
- `runner.py`   stages with progress bars and timings
- `story.py`    the stages of the story, in order; each stage lives in `scenario.py`,
                `merchants.py`, `users.py`, `money.py`, `releases.py`, `corrections.py` or
                `closing.py`, sharing `context.py` (options, cast, context) and `sms.py`
- `summary.py`  the figures the report shows, read back from the database
"""
