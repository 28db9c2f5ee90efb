@rem ---- osdcast begin (added by Add-OsdcastToBootImage.ps1 -AppendStartnet; remove this block to undo) ----
@rem startnet.cmd runs in plain ADK WinPE images. ConfigMgr boot images start TsBootShell.exe through
@rem Windows\System32\winpeshl.ini instead, and then this file is NOT run: use a prestart command or a task
@rem sequence step there (see winpe\README.md).
@rem
@rem wpeinit (the first line of startnet.cmd) starts networking; wait until an adapter has an address before
@rem anything joins a multicast group.
wpeutil WaitForNetwork
@rem Record how WinPE booted (PEBootType, and PEBootServerAddr/PEBootServerName after a PXE boot) under
@rem HKLM\SYSTEM\CurrentControlSet\Control. osdcast reads PEBootServerAddr when no server is given otherwise.
wpeutil UpdateBootInfo
@rem Firewall: whether WinPE filters inbound UDP by default is not confirmed. If clients join but never receive
@rem multicast data, remove "@rem " from the next line (WinPE is a short-lived, single-purpose environment).
@rem wpeutil DisableFirewall
@rem ---- osdcast end ----
