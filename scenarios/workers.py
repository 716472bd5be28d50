"""A subclass of gunicorn's gevent worker, as the team in the report had.

INITLAB_PATCH_SUBPROCESS=0 makes it patch everything but subprocess: the
bisection from the report, where the hang disappears and the mask stays."""
import os

from gevent import monkey
from gunicorn.workers.ggevent import GeventWorker


class CustomGeventWorker(GeventWorker):
    def patch(self):
        if os.environ.get("INITLAB_PATCH_SUBPROCESS", "1") == "1":
            super().patch()
            return
        # The parent's patch() also re-wraps the listening sockets; keep that
        # and change only the flags it patches with.
        patch_all = monkey.patch_all
        monkey.patch_all = lambda **flags: patch_all(**dict(flags, subprocess=False))
        try:
            super().patch()
        finally:
            monkey.patch_all = patch_all
