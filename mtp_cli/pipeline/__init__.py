"""`mtp pipeline run`: recipes that chain tokenize -> train -> generate -> eval."""
