"""``iadv methods``: the registered perturbation methods and run rows (the experiment scripts ask it for theirs)."""

from interpretable_adv import methods
from interpretable_adv.methods.registry import ROW_KINDS

HELP = "list the perturbation methods and the run rows of Tables 1 and 3"


def add_arguments(parser):
    parser.add_argument("--names", action="store_true", help="only the method names, on one line")
    parser.add_argument("--adversarial", action="store_true", help="with --names: only the methods that perturb")
    parser.add_argument("--gradient", action="store_true",
                        help="with --names: only the methods whose perturbation follows the label gradient (an eps "
                             "sweep's, equation 9's)")
    parser.add_argument("--virtual", action="store_true",
                        help="with --names: only the methods whose perturbation follows the virtual adversarial "
                             "gradient (the VAT family, trained on unlabeled reviews)")
    parser.add_argument("--perturbed", action="store_true", help="with --rows: only the rows whose method perturbs")
    parser.add_argument("--rows", nargs="*", choices=ROW_KINDS, default=None, metavar="KIND",
                        help="only the run rows of these kinds (%s; none named: all), on one line, in training "
                             "order (the reverse of the tables')" % ", ".join(ROW_KINDS))
    parser.add_argument("--row", default=None, metavar="ROW",
                        help="one row as `iadv train` needs it: METHOD PRETRAINED LM_TERM (1 or 0 each)")


def run(args):
    if args.row is not None:
        try:
            row = methods.row(args.row)
        except ValueError as exc:
            from interpretable_adv.errors import UsageError
            raise UsageError("--row %s" % exc) from None
        print(row.method, int(row.pretrained), int(row.lm_term))
    elif args.rows is not None:
        kinds = tuple(args.rows) or ROW_KINDS
        chosen = methods.perturbed_rows(kinds) if args.perturbed else methods.rows(kinds)
        print(" ".join(row.name for row in reversed(chosen)))
    elif args.names:
        print(" ".join(methods.names(adversarial=True if args.adversarial else None,
                                     gradient=True if args.gradient else None,
                                     virtual=True if args.virtual else None)))
    else:
        print(registry_markdown())
    return 0


def registry_markdown():
    """The registry as two Markdown tables: the methods, and the run rows of Tables 1 and 3."""
    lines = ["| method | title | paper eps | neighbours | its own keys | follows the label gradient | virtual (unlabeled "
             "reviews) |", "|---|---|---|---|---|---|---|"]
    for m in methods.all_methods():
        lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            m.name, m.title, "-" if m.paper_eps is None else "%g" % m.paper_eps, "yes" if m.needs_neighbors else "no",
            ", ".join(m.keys) or "-", "yes" if m.adversarial and m.gradient_based else "no",
            "yes" if m.virtual else "no"))
    lines += ["", "| row | kind | method | from the LM | LM term (eq. 9) | Table 3 title | paper |",
              "|---|---|---|---|---|---|---|"]
    for row in methods.rows():
        lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            row.name, row.kind, row.method, "yes" if row.pretrained else "no", "yes" if row.lm_term else "no",
            row.title, "-" if row.paper is None else "%.2f" % row.paper))
    return "\n".join(lines)
