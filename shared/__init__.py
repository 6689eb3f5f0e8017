"""What every trustwatch service uses: schemas, topics, settings, the consumer loop, the broker.

Nothing in this package imports a service package.
"""
