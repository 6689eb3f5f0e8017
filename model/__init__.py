"""The model's side: what is monitored (the feature set and its contract), the versioned
artifact, and the datasets. ``shared`` is the Kafka plumbing every service uses; this is what the
services are told about the model."""
