"""``obsctl tui``: interactive triage over the same analysis functions as the commands.

``app.ObsctlApp`` holds the store (a small pool of read-only connections, one per
worker thread at a time) and the shared time window; one module per view (overview,
logs, metrics, traces, profiles) wires widgets to ``obsctl.analysis`` calls that run in
thread workers. The waterfall (``waterfall.Waterfall``) draws only the visible lines
through Textual's Line API, with the bar geometry of ``render.traces``.

Nothing here is imported by ``obsctl --help``: ``cli/tui.py`` imports this package inside
the command body.
"""
