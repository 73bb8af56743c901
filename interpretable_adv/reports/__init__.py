"""Reports: what the runs are turned into for a reader.

``table1`` (LM perplexity of adversarial examples), ``table3`` (test accuracy
of the rows), ``evaluation`` (both for one seed's runs: ``iadv evaluate``),
``seed_summary`` (both over seeds: ``iadv summarize``), ``sweep`` (the eps
sweep's report), ``examples`` (one review's adversarial versions) and
``plots`` (Figures 1-4, the tables' plots).
"""
