"""``assay serve``: any assay model behind an OpenAI-compatible HTTP API.

``app.py`` builds the FastAPI app and runs it, ``served.py`` holds the served model and its lock,
``translate.py`` turns requests into assay values and results into response parts,
``streaming.py`` sends server-sent events, ``listen.py`` checks the host and port and prints the
banner, ``schemas.py`` holds the request bodies and the error format, ``docs_page.py`` the
offline ``/docs`` page, ``background.py`` runs an app in a thread (notebooks, tests).
"""
