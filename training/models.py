"""Training jobs and runs arrive with the jobs issue; the app exists so migrations stay ordered."""
