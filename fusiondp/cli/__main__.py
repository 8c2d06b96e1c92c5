"""``python -m fusiondp.cli``: the same command as the ``fusiondp`` console script (the tests run it this way)."""

from fusiondp.cli import main

if __name__ == "__main__":
    main()
