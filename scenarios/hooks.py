"""gunicorn server hooks (loaded with -c): each process reports its signal
state at a moment of its own choosing, before it has changed anything, so
what it shows there is what it inherited.

on_starting runs in the master before gunicorn installs its signal handlers;
post_fork runs in a worker right after the fork, before the worker class
(and gevent's patching) runs."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigstate  # noqa: E402


def on_starting(server):
    sigstate.report(role="master", phase="starting")


def post_fork(server, worker):
    sigstate.report(role="worker", phase="forked")
