"""``quantum-cancel``: the operator's command line for the cancel-running-job app.

It talks only to the app's HTTP API (PRODUCT.md section 14), locally (``make serve``) or in
Azure, with the app's function key. It is installed with the project (``pip install .``) and
is not part of the deployed function app (.funcignore).
"""
