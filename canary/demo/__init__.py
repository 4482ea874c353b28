"""``canary demo``: a whole gray release on the local services, end to end.

``run`` wires it together, ``paths`` runs the two paths as processes, ``report`` is
what the demo saw (the verify gate's report plus its own part).
"""
