"""Update BENCHMARKS.md from the harnesses' fragments (benchmarks/NAME.md).

Each fragment lives in BENCHMARKS.md between `<!-- bench:NAME -->` and
`<!-- /bench:NAME -->`; only that text is replaced, and a fragment without
markers yet is appended at the end. Everything outside the markers (the
hand-written records of sessions and issues) is kept as it is, and the
machine lines of the header are rewritten.

    python3 scripts/bench/assemble.py "MACHINE LINE 1" "MACHINE LINE 2"
"""

import glob
import os
import re
import sys

PATH = "BENCHMARKS.md"
MACHINE = re.compile(r"^Machine of the last assembly: .*\n.*\n", re.M)


def main() -> None:
    machine = "".join(line + "\n" for line in sys.argv[1:3])
    text = open(PATH).read() if os.path.exists(PATH) else "# Benchmarks\n"
    if machine:
        if MACHINE.search(text):
            text = MACHINE.sub(lambda _: machine, text, count=1)
        else:
            head, _, rest = text.partition("\n")
            text = f"{head}\n\n{machine}{rest}"
    for fragment in sorted(glob.glob("benchmarks/*.md")):
        name = os.path.basename(fragment)[: -len(".md")]
        body = open(fragment).read().strip("\n")
        begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
        block = f"{begin}\n{body}\n{end}"
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
        if pattern.search(text):
            text = pattern.sub(lambda _: block, text, count=1)
        else:
            text = text.rstrip("\n") + f"\n\n{block}\n"
    with open(PATH, "w") as out:
        out.write(text)


if __name__ == "__main__":
    main()
