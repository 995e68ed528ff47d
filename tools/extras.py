"""Print the requirements of some extras of the installed mpasync, one per line.

`make test` installs these on top of `make demo`'s runtime install, so neither order
reinstalls the package itself. Reads the installed metadata (no tomllib on 3.10), and
keeps each requirement's other markers (e.g. a Python version) for pip to evaluate.
"""

import importlib.metadata
import re
import sys

EXTRA = re.compile(r"""\(?\s*extra\s*==\s*['"]([\w.-]+)['"]\s*\)?""")

wanted = set(sys.argv[1:])
for requirement in importlib.metadata.requires("mpasync") or []:
    spec, _, marker = requirement.partition(";")
    extra = EXTRA.search(marker)
    if extra is None or extra.group(1) not in wanted:
        continue
    rest = EXTRA.sub("", marker).strip()
    rest = re.sub(r"^(and|or)\s+|\s+(and|or)$", "", rest).strip()
    print(f"{spec.strip()}; {rest}" if rest else spec.strip())
