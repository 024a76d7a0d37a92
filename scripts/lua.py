"""Runs a Lua 5.4 script as the standalone `lua5.4 SCRIPT ARGS...` would, with the Lua 5.4 that
PyPI's lupa ships (in .venv, from scripts/local-aws-requirements.txt): no root and no system
package. `arg[0]` is the script's path and `arg[1..]` its arguments; `os.exit(n)` exits with n,
an error exits 1 with the error on stderr.

usage: lua.py SCRIPT [ARGS...]
"""

import sys

import lupa.lua54


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__.strip().splitlines()[-1])
    lua = lupa.lua54.LuaRuntime()
    arg = lua.table_from({index: value for index, value in enumerate(sys.argv[1:])})
    lua.globals().arg = arg
    run = lua.eval("function(path) return assert(loadfile(path))(table.unpack(arg)) end")
    try:
        run(sys.argv[1])
    except lupa.lua54.LuaError as error:
        print(f"lua: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
