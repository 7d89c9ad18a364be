"""``assay serve``: any assay model behind an OpenAI-compatible HTTP API.

``app.py`` builds the FastAPI app and runs it, ``schemas.py`` holds the request bodies and the
error format, ``docs_page.py`` the offline ``/docs`` page, ``background.py`` runs an app in a
thread (notebooks, tests).
"""
