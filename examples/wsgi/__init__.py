"""adinject around WSGI apps: a Flask app (flask_app.py) and a Django project in one file (django_app.py).

Both serve article pages at /news/<slug> with the shipped rules (the repository's rules/), and pass the
related article to the units through `environ["adinject.context"]`. Run one under gunicorn's sync workers:

    gunicorn -w 2 examples.wsgi.flask_app:app
    gunicorn -w 2 examples.wsgi.django_app:application
"""
