# kz blind mode's Python start-up hook: `kz run --blind` writes this file into a folder of its own
# beside the run's CA files (0600) and puts that folder first on PYTHONPATH. It does two things:
#  - aiohttp: a bare ClientSession() ignores HTTPS_PROXY unless trust_env=True, so its requests would go
#    straight to the real host carrying an inert token. When aiohttp.client is imported, ClientSession's
#    trust_env defaults to True (an explicit trust_env=False is kept). Nothing is imported eagerly.
#  - the sitecustomize this one shadows (Debian's, a virtualenv's, the user's) still runs, as before.
import sys


def _kz_hook_aiohttp():
    import importlib.machinery

    class KzAiohttpFinder:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name != "aiohttp.client":
                return None
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
                return spec
            load = spec.loader.exec_module

            def exec_module(module):
                load(module)
                _kz_trust_env_by_default(module)

            spec.loader.exec_module = exec_module
            return spec

        @staticmethod
        def invalidate_caches():
            pass

    sys.meta_path.insert(0, KzAiohttpFinder)


def _kz_trust_env_by_default(module):
    session = getattr(module, "ClientSession", None)
    init = getattr(session, "__init__", None)
    if init is None or getattr(init, "_kz", False):
        return

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("trust_env", True)
        init(self, *args, **kwargs)

    __init__._kz = True
    try:
        session.__init__ = __init__
    except (AttributeError, TypeError):
        pass


def _kz_chain_sitecustomize():
    import importlib.machinery
    import importlib.util
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


_kz_hook_aiohttp()
_kz_chain_sitecustomize()
