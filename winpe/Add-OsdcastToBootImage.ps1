<#
.SYNOPSIS
    Adds osdcast-win-x64.exe (and optionally osdcast.json and a startnet.cmd snippet) to an x64 WinPE boot image.

.DESCRIPTION
    Mounts one index of a boot.wim with the DISM PowerShell module, copies the executable into the image
    (default Windows\System32\osdcast.exe, which is on PATH in WinPE), optionally copies osdcast.json beside it,
    optionally appends winpe\startnet-snippet.cmd to Windows\System32\startnet.cmd, then commits and unmounts.
    If any step fails after mounting, the image is unmounted with -Discard, so the .wim is left unchanged.

    Run it elevated on a Windows machine with the DISM module (Windows 10/11, Server 2016+, or the ADK's
    Deployment Tools). Work on a COPY of the boot image, or on the source .wim of a CUSTOM ConfigMgr boot image,
    then update the distribution points. Default ConfigMgr boot images are regenerated on ADK/site upgrades and
    your change would be lost.

.PARAMETER WimPath
    The boot.wim to change.

.PARAMETER ExePath
    osdcast-win-x64.exe built by `npm run package`.

.PARAMETER Index
    Image index inside the .wim (boot images normally have 1).

.PARAMETER Destination
    Folder inside the image, relative to its root. Default Windows\System32.

.PARAMETER ExeName
    File name inside the image. Default osdcast.exe.

.PARAMETER ConfigPath
    Optional osdcast.json to copy beside the executable (osdcast reads it from the executable's folder).

.PARAMETER AppendStartnet
    Append startnet-snippet.cmd (next to this script) to Windows\System32\startnet.cmd, once.

.PARAMETER MountDir
    Empty folder to mount into. Default: a new folder under $env:TEMP.

.EXAMPLE
    .\Add-OsdcastToBootImage.ps1 -WimPath D:\BootImages\Custom-x64\boot.wim -ExePath .\osdcast-win-x64.exe -ConfigPath .\osdcast.json

.EXAMPLE
    .\Add-OsdcastToBootImage.ps1 -WimPath C:\WinPE_amd64\media\sources\boot.wim -ExePath .\osdcast-win-x64.exe -AppendStartnet -WhatIf

.NOTES
    Reviewed by hand only: no PowerShell was available where it was written (see winpe\README.md, "Review notes").
    Written for Windows PowerShell 5.1 and PowerShell 7 (no ternary, no ??, no pipeline chain operators).
#>
[CmdletBinding(SupportsShouldProcess = $true)]
param(
    [Parameter(Mandatory = $true)]
    [string]$WimPath,

    [Parameter(Mandatory = $true)]
    [string]$ExePath,

    [ValidateRange(1, 99)]
    [int]$Index = 1,

    [string]$Destination = 'Windows\System32',

    [string]$ExeName = 'osdcast.exe',

    [string]$ConfigPath,

    [switch]$AppendStartnet,

    [string]$MountDir
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'

function Test-IsAdministrator {
    $identity = [Security.Principal.WindowsIdentity]::GetCurrent()
    $principal = New-Object Security.Principal.WindowsPrincipal($identity)
    return $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)
}

function Get-PeMachine {
    # Returns the COFF Machine field of a PE file (0x8664 = x64), or -1 if the file is not a PE image.
    param([string]$Path)
    $stream = [IO.File]::OpenRead($Path)
    try {
        $reader = New-Object IO.BinaryReader($stream)
        if ($stream.Length -lt 64) { return -1 }
        if ($reader.ReadUInt16() -ne 0x5A4D) { return -1 }
        $stream.Position = 0x3C
        $peOffset = $reader.ReadUInt32()
        if ($peOffset + 6 -gt $stream.Length) { return -1 }
        $stream.Position = $peOffset
        if ($reader.ReadUInt32() -ne 0x00004550) { return -1 }
        return [int]$reader.ReadUInt16()
    }
    finally {
        $stream.Dispose()
    }
}

# ---- checks before touching the image ----------------------------------------------------------------------
if (-not (Test-IsAdministrator)) {
    throw 'Run this script from an elevated PowerShell (DISM needs administrator rights).'
}
if (-not (Get-Command -Name Mount-WindowsImage -ErrorAction SilentlyContinue)) {
    throw 'The DISM PowerShell module is not available (Mount-WindowsImage not found). Install the Windows ADK Deployment Tools or run on Windows 10/11 or Server 2016+.'
}
$WimPath = (Resolve-Path -LiteralPath $WimPath).ProviderPath
$ExePath = (Resolve-Path -LiteralPath $ExePath).ProviderPath
if ($ConfigPath) {
    $ConfigPath = (Resolve-Path -LiteralPath $ConfigPath).ProviderPath
    try {
        $null = Get-Content -LiteralPath $ConfigPath -Raw | ConvertFrom-Json
    }
    catch {
        throw "ConfigPath '$ConfigPath' is not valid JSON: $($_.Exception.Message)"
    }
}
if ($Destination -match '^[A-Za-z]:' -or $Destination.StartsWith('\')) {
    throw "Destination must be relative to the image root (for example Windows\System32), got '$Destination'."
}
$machine = Get-PeMachine -Path $ExePath
if ($machine -ne 0x8664) {
    throw ("'{0}' is not an x64 Windows executable (PE machine 0x{1:X}). Use osdcast-win-x64.exe." -f $ExePath, $machine)
}
$snippetPath = Join-Path -Path $PSScriptRoot -ChildPath 'startnet-snippet.cmd'
if ($AppendStartnet -and -not (Test-Path -LiteralPath $snippetPath -PathType Leaf)) {
    throw "startnet-snippet.cmd not found next to this script ($snippetPath)."
}
if ((Get-Item -LiteralPath $WimPath).IsReadOnly) {
    throw "'$WimPath' is read-only (copied from media?). Clear the read-only attribute first."
}

$imageInfo = Get-WindowsImage -ImagePath $WimPath -Index $Index
# Architecture: 0 = x86, 9 = x64, 12 = arm64. WinPE has no WOW64, and osdcast is x64 only.
if ($imageInfo.Architecture -ne 9) {
    throw ("Image index {0} of '{1}' is not x64 (Architecture {2}). osdcast needs the x64 boot image." -f $Index, $WimPath, $imageInfo.Architecture)
}
Write-Verbose ("Image: {0} ({1}), index {2}" -f $imageInfo.ImageName, $WimPath, $Index)

$stale = @(Get-WindowsImage -Mounted | Where-Object { $_.ImagePath -eq $WimPath })
if ($stale.Count -gt 0) {
    throw ("'{0}' is already mounted at '{1}'. Unmount it first: Dismount-WindowsImage -Path '{1}' -Discard" -f $WimPath, $stale[0].Path)
}

$createdMountDir = $false
if (-not $MountDir) {
    $MountDir = Join-Path -Path $env:TEMP -ChildPath ('osdcast-mount-' + [Guid]::NewGuid().ToString('N').Substring(0, 8))
}
if (Test-Path -LiteralPath $MountDir) {
    if (@(Get-ChildItem -LiteralPath $MountDir -Force).Count -gt 0) {
        throw "MountDir '$MountDir' is not empty."
    }
}
elseif ($PSCmdlet.ShouldProcess($MountDir, 'Create mount folder')) {
    $null = New-Item -ItemType Directory -Path $MountDir
    $createdMountDir = $true
}

if (-not $PSCmdlet.ShouldProcess("$WimPath index $Index", "Add $ExeName to $Destination")) {
    if ($createdMountDir) { Remove-Item -LiteralPath $MountDir -Force -ErrorAction SilentlyContinue }
    return
}

# ---- mount, change, commit --------------------------------------------------------------------------------
$mountAttempted = $false
$committed = $false
try {
    Write-Host "Mounting $WimPath (index $Index) at $MountDir ..."
    $mountAttempted = $true
    $null = Mount-WindowsImage -ImagePath $WimPath -Index $Index -Path $MountDir

    $targetDir = Join-Path -Path $MountDir -ChildPath $Destination
    if (-not (Test-Path -LiteralPath $targetDir)) {
        $null = New-Item -ItemType Directory -Path $targetDir
    }
    $targetExe = Join-Path -Path $targetDir -ChildPath $ExeName
    Copy-Item -LiteralPath $ExePath -Destination $targetExe -Force
    $srcHash = (Get-FileHash -LiteralPath $ExePath -Algorithm SHA256).Hash
    $dstHash = (Get-FileHash -LiteralPath $targetExe -Algorithm SHA256).Hash
    if ($srcHash -ne $dstHash) {
        throw "Copy check failed: SHA-256 of $targetExe differs from the source."
    }
    Write-Host "Copied $ExeName to X:\$Destination (SHA-256 $srcHash)"

    if ($ConfigPath) {
        Copy-Item -LiteralPath $ConfigPath -Destination (Join-Path -Path $targetDir -ChildPath 'osdcast.json') -Force
        Write-Host "Copied osdcast.json to X:\$Destination"
    }

    if ($AppendStartnet) {
        $system32 = Join-Path -Path $MountDir -ChildPath 'Windows\System32'
        if (Test-Path -LiteralPath (Join-Path -Path $system32 -ChildPath 'winpeshl.ini')) {
            Write-Warning 'This image has Windows\System32\winpeshl.ini (a ConfigMgr boot image?): startnet.cmd is not run at boot, so the snippet will have no effect. Use a prestart command or a task sequence step instead.'
        }
        $startnet = Join-Path -Path $system32 -ChildPath 'startnet.cmd'
        $existing = ''
        if (Test-Path -LiteralPath $startnet) {
            $existing = Get-Content -LiteralPath $startnet -Raw
            if ($null -eq $existing) { $existing = '' }
        }
        if ($existing -match 'osdcast begin') {
            Write-Host 'startnet.cmd already contains the osdcast block; left unchanged.'
        }
        else {
            $snippet = Get-Content -LiteralPath $snippetPath -Raw
            if ($existing.Length -gt 0 -and -not $existing.EndsWith("`n")) {
                $existing += "`r`n"
            }
            # startnet.cmd is read by cmd.exe: keep it ASCII.
            Set-Content -LiteralPath $startnet -Value ($existing + $snippet) -Encoding Ascii -NoNewline
            Write-Host 'Appended the osdcast block to startnet.cmd'
        }
    }

    Write-Host 'Committing and unmounting ...'
    $null = Dismount-WindowsImage -Path $MountDir -Save
    $committed = $true
    Write-Host "Done. Next for ConfigMgr: update the boot image's distribution points (Update Distribution Points in the console)."
}
catch {
    Write-Warning "Failed: $($_.Exception.Message)"
    throw
}
finally {
    # A failed or half-done mount still has to be discarded, or the .wim stays locked.
    $stillMounted = @(Get-WindowsImage -Mounted | Where-Object { $_.Path.TrimEnd('\') -eq $MountDir.TrimEnd('\') }).Count -gt 0
    if ($mountAttempted -and -not $committed -and $stillMounted) {
        Write-Warning "Discarding changes and unmounting $MountDir ..."
        try {
            $null = Dismount-WindowsImage -Path $MountDir -Discard
        }
        catch {
            Write-Warning "Unmount failed: $($_.Exception.Message). Clean up with: Dismount-WindowsImage -Path '$MountDir' -Discard (or dism /Cleanup-Wim)."
        }
    }
    if ($createdMountDir -and (Test-Path -LiteralPath $MountDir)) {
        if (@(Get-ChildItem -LiteralPath $MountDir -Force -ErrorAction SilentlyContinue).Count -eq 0) {
            Remove-Item -LiteralPath $MountDir -Force -ErrorAction SilentlyContinue
        }
    }
}
