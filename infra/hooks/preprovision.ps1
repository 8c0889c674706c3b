# azd preprovision on Windows: the same checks as preprovision.sh (read it for the why).
$ErrorActionPreference = 'Stop'
if (-not $env:QUANTUM_WORKSPACE_ID) {
    Write-Error ("Set the Azure Quantum workspace first:`n  azd env set QUANTUM_WORKSPACE_ID " +
        '/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Quantum/workspaces/<name>')
    exit 1
}
if (-not $env:CALLER_TOKEN_KEY) {
    $bytes = New-Object byte[] 32
    [System.Security.Cryptography.RandomNumberGenerator]::Create().GetBytes($bytes)
    azd env set CALLER_TOKEN_KEY ([Convert]::ToBase64String($bytes)) | Out-Null
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
    Write-Output 'made a new CALLER_TOKEN_KEY for this environment'
}
