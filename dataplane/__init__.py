"""Azure Quantum data-plane client: the only code in the app that speaks HTTP to the service.

Modules: ``status`` (the job status model), ``errors`` (the exception tree), ``resources``
(job coordinates and their URL paths), ``versions`` (api-version rules, including which verb
cancels), ``endpoint`` (where a token may be sent), ``auth`` (bearer tokens) and ``client``
(the requests themselves).
"""
