"""The ``iadv`` subcommands, one module each: ``HELP``, ``add_arguments(parser)``, ``run(args) -> exit status``.

:mod:`interpretable_adv.cli` registers them; the work itself lives in the
library modules they call.
"""
