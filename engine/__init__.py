"""The migration engine: plain Python, no Django import.

It talks to the outside only through the ports in :mod:`engine.ports`.
"""
