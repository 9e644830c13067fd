"""One module per subcommand; each holds only its options and hands the work to scripts.lib."""
