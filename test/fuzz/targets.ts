/**
 * The fuzz target table: every decoder and client state machine, by name. `npm run fuzz` (test/fuzz/main.ts) and
 * vitest (test/fuzz/decoders.test.ts, machines.test.ts) run the same table. A new decoder is one more `codecTarget({...})` in a list
 * (see test/fuzz/target.ts), as the udpcast codec in targets/udpcast.ts.
 */
import { FuzzTarget } from './target';
import { machineTargets } from './targets/machines';
import { mtTargets } from './targets/mt';
import { ntlmTargets } from './targets/ntlm';
import { rpcMachineTargets } from './targets/rpc-machines';
import { rpcTargets } from './targets/rpc';
import { udpcastTargets } from './targets/udpcast';
import { wdscTargets } from './targets/wdsc';

export const TARGETS: FuzzTarget[] = [...mtTargets, ...rpcTargets, ...ntlmTargets, ...wdscTargets, ...machineTargets, ...rpcMachineTargets, ...udpcastTargets];
