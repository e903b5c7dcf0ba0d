#!/usr/bin/env python3
"""Check that every relative link in README.md and docs/*.md names a file
that exists, and that docs/SUMMARY.md lists every page of docs/."""
import glob
import os
import re
import sys

LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
problems = []
pages = ["README.md", *sorted(glob.glob("docs/*.md"))]
for page in pages:
    text = open(page, encoding="utf-8").read()
    # Links inside code blocks are examples, not links.
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0]
        resolved = os.path.normpath(os.path.join(os.path.dirname(page), path))
        if not os.path.exists(resolved):
            problems.append(f"{page}: link to {target}: {resolved} does not exist")

summary = open("docs/SUMMARY.md", encoding="utf-8").read()
for page in glob.glob("docs/*.md"):
    name = os.path.basename(page)
    if name in ("SUMMARY.md", "example-comment.md"):
        continue
    if f"({name})" not in summary:
        problems.append(f"docs/SUMMARY.md does not list {name}")

# The README shows docs/example-comment.md in full between its markers.
readme = open("README.md", encoding="utf-8").read()
example = open("docs/example-comment.md", encoding="utf-8").read().split("-->\n\n", 1)[1]
start, end = "<!-- example-comment:start -->\n", "\n<!-- example-comment:end -->"
if start not in readme or end not in readme:
    problems.append("README.md lacks the example-comment markers")
elif readme.split(start, 1)[1].split(end, 1)[0] != example.rstrip("\n"):
    problems.append("README.md's example comment differs from docs/example-comment.md "
                    "(regenerate both with SIZEGATE_WRITE_EXAMPLE=1, docs/pr-comment.md)")

for problem in problems:
    print(problem)
if problems:
    sys.exit(1)
print(f"{len(pages)} pages, every relative link resolves")
