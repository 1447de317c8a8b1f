"""The reference evaluator: an independent, plain-Python CQL oracle for differential tests."""
