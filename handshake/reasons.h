/*
 * Why an attested handshake ended. The numeric values travel on the wire (abort frames and
 * verdict messages, see session.h), so they are fixed: append, never renumber.
 */
#ifndef TNGWG_HANDSHAKE_REASONS_H
#define TNGWG_HANDSHAKE_REASONS_H

enum hs_reason {
	HS_OK = 0,
	HS_PROTOCOL_ERROR = 1,
	HS_VERSION_MISMATCH = 2,
	HS_ATTESTATION_REQUIRED = 3, /* the peer will not attest but we require it */
	HS_EVIDENCE_UNAVAILABLE = 4, /* our own evidence source failed */
	HS_VERIFICATION_FAILED = 5,  /* the AS or its token said no */
	HS_VERIFIER_UNAVAILABLE = 6,
	HS_TIMEOUT = 7,
	HS_BUSY = 8,
	HS_RATE_LIMITED = 9,
	HS_CONNECT_FAILED = 10,
	HS_SUPERSEDED = 11, /* lost a simultaneous-initiation tie; not a failure of the peer */
};
#define HS_REASON_COUNT 12

/* A stable lower-case name ("verification_failed"); "unknown" for values out of range. */
const char *hs_reason_name(enum hs_reason r);

#endif
