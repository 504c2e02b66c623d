"""The README's filtered-search plot, from the CSV that `bench_filter.py --csv` writes:
recall@k, queries per second, and queries per second as a share of the same system's
unfiltered search (timed beside it), against the share of rows the filter matches, for
each system.

    /tmp/chroma-venv/bin/pip install matplotlib
    /tmp/chroma-venv/bin/python python/bench/plot_filter.py filter.csv docs/filter-search.svg
"""

import argparse
import csv
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

NAMES = {"fletchdb": "FletchDB", "chroma": "Chroma"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", help="bench_filter.py --csv output")
    ap.add_argument("out", help="image to write (.svg or .png)")
    args = ap.parse_args()

    by_system = defaultdict(list)
    with open(args.csv, newline="") as f:
        for row in csv.DictReader(f):
            by_system[row["system"]].append(row)
    if not by_system:
        raise SystemExit(f"{args.csv}: no rows")
    first = next(iter(by_system.values()))[0]

    fig, (top, middle, bottom) = plt.subplots(3, 1, figsize=(7, 9), sharex=True)
    for system, rows in sorted(by_system.items()):
        rows.sort(key=lambda r: float(r["selectivity"]))
        x = [100 * float(r["selectivity"]) for r in rows]
        label = f"{NAMES.get(system, system)} (ef {rows[0]['ef']})"
        top.plot(x, [float(r["recall"]) for r in rows], "o-", label=label)
        middle.plot(x, [float(r["qps"]) for r in rows], "o-", label=label)
        bottom.plot(x, [float(r["ratio"]) for r in rows], "o-", label=label)
    top.axhline(0.95, color="grey", linestyle=":", linewidth=1)
    top.set_ylabel(f"recall@{first['k']}")
    top.set_ylim(min(0.8, top.get_ylim()[0]), 1.01)
    top.legend()
    middle.set_yscale("log")
    middle.set_ylabel("queries per second")
    bottom.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    bottom.set_yscale("log")
    bottom.set_ylabel("QPS ÷ unfiltered QPS")
    bottom.set_xscale("log")
    bottom.set_xlabel("rows matching the filter (%)")
    fig.suptitle(f"Filtered search, minilm-mix-dev ({int(first['rows']):,} rows, "
                 f"{first['queries']} queries, one thread)")
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
