"""Plan stage: compile the model and what is known of sources and archive into ExportUnits."""
