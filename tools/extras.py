"""Print the requirements of some extras of the installed mpasync, one per line.

`make test` installs these on top of `make demo`'s runtime install, so neither order
reinstalls the package itself. Reads the installed metadata (no tomllib on 3.10).
"""

import importlib.metadata
import re
import sys

wanted = set(sys.argv[1:])
for requirement in importlib.metadata.requires("mpasync") or []:
    spec, _, marker = requirement.partition(";")
    extra = re.search(r"extra\s*==\s*['\"]([\w-]+)['\"]", marker)
    if extra and extra.group(1) in wanted:
        print(spec.strip())
