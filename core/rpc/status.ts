/**
 * Names for the numbers a DCE/RPC peer refuses with: fault status (C706 appendix N; MS-RPCE 3.1.1.5.5 and the
 * Win32 codes Windows puts in rpc_fault), bind_nak reject reasons (C706 12.6.3.1, MS-RPCE 2.2.2.5) and the
 * per-context results of a bind_ack (C706 12.6.3.1, MS-RPCE 2.2.2.4).
 */

const FAULT_NAMES: Record<number, string> = {
  0x1c010001: 'nca_s_comm_failure',
  0x1c010002: 'nca_s_op_rng_error',
  0x1c010003: 'nca_s_unk_if',
  0x1c010006: 'nca_s_wrong_boot_time',
  0x1c010009: 'nca_s_you_crashed',
  0x1c01000b: 'nca_s_proto_error',
  0x1c010013: 'nca_s_out_args_too_big',
  0x1c010014: 'nca_s_server_too_busy',
  0x1c010015: 'nca_s_fault_string_too_long',
  0x1c010017: 'nca_s_unsupported_type',
  0x1c000001: 'nca_s_fault_int_div_by_zero',
  0x1c000002: 'nca_s_fault_addr_error',
  0x1c000003: 'nca_s_fault_fp_div_zero',
  0x1c000004: 'nca_s_fault_fp_underflow',
  0x1c000005: 'nca_s_fault_fp_overflow',
  0x1c000006: 'nca_s_fault_invalid_tag',
  0x1c000007: 'nca_s_fault_invalid_bound',
  0x1c000008: 'nca_s_rpc_version_mismatch',
  0x1c000009: 'nca_s_unspec_reject',
  0x1c00000a: 'nca_s_bad_actid',
  0x1c00000b: 'nca_s_who_are_you_failed',
  0x1c00000c: 'nca_s_manager_not_entered',
  0x1c00000d: 'nca_s_fault_cancel',
  0x1c00000e: 'nca_s_fault_ill_inst',
  0x1c00000f: 'nca_s_fault_fp_error',
  0x1c000010: 'nca_s_fault_int_overflow',
  0x1c000012: 'nca_s_fault_unspec',
  0x1c000013: 'nca_s_fault_remote_comm_failure',
  0x1c000014: 'nca_s_fault_pipe_empty',
  0x1c000015: 'nca_s_fault_pipe_closed',
  0x1c000016: 'nca_s_fault_pipe_order',
  0x1c000017: 'nca_s_fault_pipe_discipline',
  0x1c000018: 'nca_s_fault_pipe_comm_error',
  0x1c000019: 'nca_s_fault_pipe_memory',
  0x1c00001a: 'nca_s_fault_context_mismatch',
  0x1c00001b: 'nca_s_fault_remote_no_memory',
  0x1c00001c: 'nca_s_invalid_pres_context_id',
  0x1c00001d: 'nca_s_unsupported_authn_level',
  0x1c00001f: 'nca_s_invalid_checksum',
  0x1c000020: 'nca_s_invalid_crc',
  0x1c000021: 'nca_s_fault_user_defined',
  0x1c000022: 'nca_s_fault_tx_open_failed',
  0x1c000023: 'nca_s_fault_codeset_conv_error',
  0x1c000024: 'nca_s_fault_object_not_found',
  0x1c000025: 'nca_s_fault_no_client_stub',
  // Win32 codes Windows RPC puts in rpc_fault (MS-ERREF 2.2).
  0x00000005: 'access_denied',
  0x000006b5: 'rpc_s_unknown_if',
  0x000006d1: 'rpc_s_procnum_out_of_range',
  0x000006f7: 'rpc_x_bad_stub_data',
  0x0000071d: 'rpc_s_unsupported_authn_level',
  0x00000721: 'rpc_s_sec_pkg_error',
  0x00000722: 'rpc_s_access_denied',
};

/** A fault status is an access or authentication refusal (the caller may retry with other credentials). */
const AUTH_FAULTS = new Set([0x00000005, 0x00000722, 0x00000721, 0x0000071d, 0x1c00001d]);

export function faultName(status: number): string {
  return FAULT_NAMES[status >>> 0] ?? `unknown_status_0x${(status >>> 0).toString(16).padStart(8, '0')}`;
}

export function isAccessFault(status: number): boolean {
  return AUTH_FAULTS.has(status >>> 0);
}

const BIND_NAK_NAMES = [
  'reason_not_specified',
  'temporary_congestion',
  'local_limit_exceeded',
  'called_paddr_unknown',
  'protocol_version_not_supported',
  'default_context_not_supported',
  'user_data_not_readable',
  'no_psap_available',
  'authentication_type_not_recognized',
  'invalid_checksum',
];

export function bindNakName(reason: number): string {
  return BIND_NAK_NAMES[reason] ?? `unknown_reason_${reason}`;
}

const RESULT_NAMES = ['acceptance', 'user_rejection', 'provider_rejection', 'negotiate_ack'];
const PROVIDER_REASON_NAMES = [
  'reason_not_specified',
  'abstract_syntax_not_supported',
  'proposed_transfer_syntaxes_not_supported',
  'local_limit_exceeded',
];

/** "provider_rejection (abstract_syntax_not_supported)" for a presentation context the server did not accept. */
export function contextResultName(result: number, reason: number): string {
  const r = RESULT_NAMES[result] ?? `unknown_result_${result}`;
  return `${r} (${PROVIDER_REASON_NAMES[reason] ?? `reason_${reason}`})`;
}
