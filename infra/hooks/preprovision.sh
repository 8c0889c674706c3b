#!/bin/sh
# azd preprovision: the workspace must be named, and the caller-token key made once per azd
# environment (kept in .azure/<env>/.env, pushed to Key Vault by the deployment). Re-running
# keeps the key: a new one would strand the tokens that running cancellations sealed.
set -eu
if [ -z "${QUANTUM_WORKSPACE_ID:-}" ]; then
  echo "Set the Azure Quantum workspace first:" >&2
  echo "  azd env set QUANTUM_WORKSPACE_ID /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Quantum/workspaces/<name>" >&2
  exit 1
fi
if [ -z "${CALLER_TOKEN_KEY:-}" ]; then
  key=$(python3 -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())')
  azd env set CALLER_TOKEN_KEY "$key" >/dev/null
  echo "made a new CALLER_TOKEN_KEY for this environment"
fi
