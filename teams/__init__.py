"""Teams and access, the bottom layer: ``Team``, ``Membership``, roles, ``TeamScopedQuerySet``
and ``visible``/``get_visible_or_404``, the active-team middleware and the command base every
CXR Lab command derives from. Nothing here imports another project app."""
