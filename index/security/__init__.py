"""The security layer: callers, data security policies, their enforcement as masks,
and the events policy changes send."""
