"""Activity functions: every call to Azure Quantum happens here, one request per invocation."""
