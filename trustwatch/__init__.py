"""The trustwatch command line and the demo orchestrator that wires the services together."""
