"""Runs of the upstream iAdvT code (Sato et al., aonotas/interpretable-adv) beside ours.

:mod:`.logs` reads upstream training logs (or checkpoint names) and our run
directories into :class:`~.logs.RunLog` s; :mod:`.comparison` puts them side
by side (``iadv compare-upstream``); :mod:`.lm_import` turns an upstream LM
checkpoint into our ``lm.npz`` (``iadv import-upstream-lm``). The names below
are re-exported for callers that use the package as one namespace.
"""

from interpretable_adv.upstream.comparison import (  # noqa: F401
    comparison_figure,
    comparison_markdown,
    summary_rows,
    write_comparison,
)
from interpretable_adv.upstream.lm_import import (  # noqa: F401
    LSTM_KEYS,
    UpstreamImportError,
    import_upstream_lm,
    read_word_list,
)
from interpretable_adv.upstream.logs import (  # noqa: F401
    LogFormatError,
    RunLog,
    parse_our_run,
    parse_upstream,
    parse_upstream_checkpoints,
    parse_upstream_log,
)
