"""Choose beta (``--lm-weight``) of equation 9's LM term on dev accuracy, per method; test is only reported.

    python experiments/choose_lm_weight.py RUNS/lm_weight

reads ``RUNS/lm_weight/{advt,spgd}-bBETA/results.json`` (one seed, from
``experiments/lm_term.sh``), writes ``lm_weight.md`` (every beta: best dev
accuracy, test accuracy, the LM term's mean share of the direction) and
``advt_lm.beta`` / ``spgd_lm.beta``: the beta with the best dev accuracy (a
tie goes to the larger beta, closer to eq. 9 as written).
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from interpretable_adv import methods  # noqa: E402

# The LM-term rows of the registry by their method: the sweep's runs are METHOD-bBETA, the choice ROW.beta.
LM_ROWS = {row.method: row.name for row in methods.rows(("lm",))}


def main(directory):
    rows = {}
    for name in sorted(os.listdir(directory)):
        match = re.fullmatch(r"(%s)-b([0-9.e-]+)" % "|".join(LM_ROWS), name)
        path = os.path.join(directory, name, "results.json")
        if match and os.path.isfile(path):
            with open(path) as f:
                result = json.load(f)
            rows.setdefault(match.group(1), []).append((float(match.group(2)), result))
    if not rows:
        sys.exit("%s: no finished {%s}-bBETA runs" % (directory, ",".join(LM_ROWS)))
    lines = ["# beta (--lm-weight) of the equation-9 LM term, chosen on dev (one seed)", "",
             "| method | beta | dev accuracy (best) | test accuracy | LM share of the direction | chosen |",
             "|---|---|---|---|---|---|"]
    for method, runs in sorted(rows.items()):
        best = max(runs, key=lambda item: (item[1]["dev_accuracy_best"], item[0]))[0]
        for beta, result in sorted(runs, reverse=True):
            share = result["adversarial"].get("mean_lm_grad_share")
            lines.append("| %s | %g | %.2f | %.2f | %s | %s |" % (
                method, beta, 100 * result["dev_accuracy_best"], 100 * result["test_accuracy"],
                "-" if share is None else "%.3f" % share, "yes" if beta == best else ""))
        with open(os.path.join(directory, LM_ROWS[method] + ".beta"), "w") as f:
            f.write("%g\n" % best)
    text = "\n".join(lines) + "\n"
    with open(os.path.join(directory, "lm_weight.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main(sys.argv[1])
