/** Every decoder of the fuzz target table at 10^4 inputs (see suite.ts). */
import { fuzzSuite } from './suite';

fuzzSuite('decoder', ['mt', 'mt-hash', 'mt-sign', 'ma', 'msi', 'rpc-pdu', 'rpc-wdsrpc-request', 'rpc-wdsrpc-response', 'rpc-eptmap-request', 'rpc-eptmap-response', 'ntlm-negotiate', 'ntlm-challenge', 'ntlm-authenticate', 'ntlm-avpairs', 'spnego-init', 'spnego-resp', 'wdsc-packet', 'wdsc-initiate-request', 'wdsc-initiate-reply', 'udpcast']);
