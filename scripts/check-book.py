#!/usr/bin/env python3
"""Check the links of the built book (target/book, from `mdbook build docs`):
every relative link between pages must name an existing page and, when it
has a `#fragment`, an id on that page. mdbook itself does not check them."""

import html.parser
import pathlib
import sys
import urllib.parse

BOOK = pathlib.Path(__file__).resolve().parent.parent / "target" / "book"


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.links = set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])


def main():
    pages = {}
    for path in BOOK.rglob("*.html"):
        page = Page()
        page.feed(path.read_text(encoding="utf-8"))
        pages[path.resolve()] = page
    if not pages:
        sys.exit(f"no HTML under {BOOK}: run `mdbook build docs` first")
    errors = []
    for path, page in pages.items():
        for href in page.links:
            url = urllib.parse.urlsplit(href)
            if url.scheme or url.netloc or href.startswith("mailto:"):
                continue
            target = path if not url.path else (path.parent / urllib.parse.unquote(url.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if BOOK.resolve() not in target.parents and target != BOOK.resolve():
                continue  # outside the book (e.g. the repository's files)
            if target.suffix != ".html":
                if not target.exists():
                    errors.append(f"{path.relative_to(BOOK)}: {href}: no such file")
                continue
            if target not in pages:
                errors.append(f"{path.relative_to(BOOK)}: {href}: no such page")
            elif url.fragment and urllib.parse.unquote(url.fragment) not in pages[target].ids:
                errors.append(f"{path.relative_to(BOOK)}: {href}: no #{url.fragment} on that page")
    for error in errors:
        print(error)
    if errors:
        sys.exit(1)
    print(f"{len(pages)} book pages, every link between them resolves")


main()
