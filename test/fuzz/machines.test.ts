/** Every client state machine of the fuzz target table at 10^4 inputs (see suite.ts). */
import { fuzzSuite } from './suite';

fuzzSuite('machine', ['receiver', 'mt-client', 'ma-client', 'msi-udp', 'rpc-client', 'rpc-connector', 'rpc-server', 'rpc-sealed', 'wdsc-initiator', 'udpcast-receiver']);
