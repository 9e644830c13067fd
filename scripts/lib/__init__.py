"""The work behind the subcommands."""
