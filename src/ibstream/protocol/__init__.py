"""The sans-I/O protocol core of ibstream: specs, events, fields, decoding, session machines.

Nothing in this package does I/O, reads a clock or starts a thread.
"""
