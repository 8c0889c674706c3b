"""Performance benchmarks of the cancel-running-job app (``make bench``).

Three questions, each answered by one module, all measured in one run of ``python -m bench``:

1. ``service_calls``: how many requests each poll schedule makes and how late it notices that
   the job reached Cancelled (the app's real orchestration versus naive loops), in virtual time.
2. ``replay_cost``: how the orchestration's replay CPU and history grow with the number of
   polls, with the app's continue-as-new and without it.
3. ``concurrency``: many cancellations at once through ``devtools.host`` in real time.

Nothing here is deployed or imported by the app; every run is bounded and talks to 127.0.0.1.
"""
