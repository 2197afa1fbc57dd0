"""Knowledge-base suggestions: resolved tickets clustered online; recurring problems
that no article covers are flagged."""
