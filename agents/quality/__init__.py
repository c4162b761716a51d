"""Quality: what customers and reviewers say about an agent's work, and what follows.

- `rules`: the arithmetic (the Bayesian score, a scorecard's percent, the tier thresholds),
  pure functions with no database;
- `services`: every write (sampling, scoring, disputes, the score and tier, flags,
  warnings, suspensions, appeals), each audit-logged when a person does it;
- `selectors`: what the agent's quality screen and the supervisors' queues read;
- `api`: the REST endpoints.

Fairness rules kept here and nowhere else: declining or missing an offer never counts; the
acceptance rate is never a criterion; automatic checks open a case for a human and never warn
or suspend; a sanction always carries a reason code, a note and tickets as evidence; an appeal
is decided by a supervisor other than the one who issued the sanction.
"""
