"""``assay serve``: any assay model behind an OpenAI-compatible HTTP API.

``app.py`` builds the FastAPI app and runs it, ``schemas.py`` holds the request bodies and the
error format, ``background.py`` runs an app in a thread (notebooks, tests). FastAPI and uvicorn
come with ``pip install 'assay[serve]'``.
"""
