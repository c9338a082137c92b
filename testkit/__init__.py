"""Test doubles and helpers shared by the tests (tests/) and the benchmarks (benchmarks/), which never import
from tests/: the fault-injecting OpenAI-compatible server (``fakeserver``, run as a script by
``fakeserver_handle.start_fake_server``; its processes ``fakeserver_procs``, capacity model ``fakecapacity`` and
non-streaming answers ``fakeanswers``), running cells against it (``cell_runs``) and the overload scenarios with
their model (``overload_scenarios``). Not part of the inferboard package and not in its wheel; nothing here
imports pytest."""
