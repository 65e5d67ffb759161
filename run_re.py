"""run_re: not implemented yet (issue 7). Exits with status 2 until it lands."""

import sys

if __name__ == "__main__":
    print("run_re.py is not implemented yet (see README: 'Status'); it lands with issue 7.",
          file=sys.stderr)
    sys.exit(2)
