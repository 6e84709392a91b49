"""``ibstream`` command line. Each subcommand lives in its own ``*_cmd`` module."""
