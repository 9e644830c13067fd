"""The `sm-detect` command line: one subcommand per deployment step."""
