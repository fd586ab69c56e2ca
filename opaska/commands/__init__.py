"""The `opaska` command line as a table: each module here declares its commands (name, help,
arguments, and the function that runs them); `opaska.cli` builds the parser from the table.

These modules stay light: a command names the function that runs it as "module:function", imported
only when that command runs, so `opaska --help` does not load the database and the registry."""
