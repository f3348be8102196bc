"""Fake messaging platforms for palabre's tests (standard library only).

tests/fakes/platforms.py: one HTTP server per platform speaking its send API
exactly as /work/shared/CHANNELS.md says (and checking what palabre sends),
fault injection, and webhook builders signed as each platform signs them.
"""
from .platforms import *  # noqa: F401,F403
