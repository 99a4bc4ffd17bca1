"""samstream studio: a model-in-the-loop video annotation server (the data engine) over SQLite.

``samstream studio DATA_DIR`` serves it (``pip install 'samstream[studio]'``). Parts: ``store`` (the
SQLite state), ``worker`` (the one inference thread), ``annotate`` (sessions, prompts, propagation),
``events`` (per-video change streams), ``export`` (SA-V / DAVIS / COCO / MP4, import), ``media``
(uploads and frames), ``service`` (settings and wiring) and ``app`` (the HTTP routes). For a team:
``auth`` (people's tokens and the role table every route is checked against), ``team_routes`` (people,
assignments, the work flow, history) and ``effort`` (the SAM 2 paper's measures per person and video).
"""
