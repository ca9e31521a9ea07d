"""Presentation: the only package (with ``tui``) that imports rich.

``formats`` maps a result table to ``table|json|ndjson|csv``; ``console`` decides colour
once; ``safe`` turns untrusted text into inert Rich ``Text``.
"""
