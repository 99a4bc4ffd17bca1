"""samstream studio: a model-in-the-loop video annotation server (the data engine) over SQLite.

``samstream studio DATA_DIR`` serves it (``pip install 'samstream[studio]'``). Parts: ``store`` (the
SQLite state, with ``rows``: the values it hands out), ``service`` (settings and wiring), ``app`` (the
HTTP routes; ``http`` their shared pieces, ``edits`` the requests as typed values), ``events`` (per-video
change streams), ``media`` (uploads and frames), ``export`` (SA-V / DAVIS / COCO / MP4) and ``imports``
(masklets from elsewhere as objects). Model work: ``workers`` (the inference workers and the pool that
pins each video to one; ``remote`` and ``ray_workers`` for workers in other processes or Ray actors),
``host`` (what one worker runs), ``worker`` (its thread and priority queue), ``annotate`` (prompts, undo
and redo), ``propagation`` (runs, one frame per turn), ``sessions`` (warm sessions, caches of the store)
and ``auto`` (automatic masklets and "segment everything", served by ``data_routes`` with effort,
exports and imports). For a team: ``auth`` (people's tokens and the role table every route is checked
against), ``team_routes`` (people, assignments, the work flow, history) and ``effort`` (the SAM 2 paper's
measures per person and video).
"""
