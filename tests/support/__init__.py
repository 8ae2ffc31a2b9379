"""Helpers the test modules share, by concept: waiting, child services, Voilà, the cluster,
the in-process dashboard, browser pages and analytics streams. Fixtures live in conftest.py;
no test module imports from another."""
