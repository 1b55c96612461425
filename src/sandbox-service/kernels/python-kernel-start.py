# How every Python kernel starts: what `python3 -m ipykernel_launcher` does, minus what a
# sandbox's kernel never uses but pays for in memory and start-up time (bench/README.md,
# "Memory per context"):
# - debugpy (ipykernel's debugger, reached only by debug_request, which the server never
#   sends) with pydevd and the pkg_resources it loads: 11.5 MB and 785 -> 685 modules;
# - jedi (IPython's completer, for complete_request, never sent): 5 MB; IPython's own
#   completer still answers without it;
# - IPython's terminal (IPython.terminal.embed, loaded by `import IPython` for `IPython.embed`)
#   with prompt_toolkit and pygments: 5.4 MB and 140 modules; it loads when code asks for it;
# - the history's SQLite file and its writer thread: a cell's In/Out stay in memory.
# The code's own imports of any of them still work: they are only kept out of the start.
import os
import sys
import types

os.environ.pop("SANDBOX_PYTHON_START", None)
for _name in ("debugpy", "jedi"):
    sys.modules[_name] = None
del _name
sys.argv.append("--HistoryManager.enabled=False")
# As under -m: code and libraries that tell a Jupyter kernel by its argv[0] still do.
try:
    import importlib.util

    sys.argv[0] = importlib.util.find_spec("ipykernel_launcher").origin
except (ImportError, AttributeError):
    pass


class _Later(types.ModuleType):
    """Stands in for a module until code asks it for a name, then loads the real one."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        import importlib

        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), name)


def _embed(*args, **kwargs):
    return _terminal_embed.__getattr__("embed")(*args, **kwargs)


_terminal_embed = _Later("IPython.terminal.embed")
_terminal_embed.embed = _embed
sys.modules["IPython.terminal.embed"] = _terminal_embed


def _start():
    # Hidden only while IPython and ipykernel import them: a user's `import jedi` later works.
    from ipykernel import kernelapp

    for name in ("debugpy", "jedi"):
        if sys.modules.get(name, 0) is None:
            del sys.modules[name]
    kernelapp.launch_new_instance()


_start()
