#include "handshake/reasons.h"

static const char *const reason_names[HS_REASON_COUNT] = {
	[HS_OK] = "ok",
	[HS_PROTOCOL_ERROR] = "protocol_error",
	[HS_VERSION_MISMATCH] = "version_mismatch",
	[HS_ATTESTATION_REQUIRED] = "attestation_required",
	[HS_EVIDENCE_UNAVAILABLE] = "evidence_unavailable",
	[HS_VERIFICATION_FAILED] = "verification_failed",
	[HS_VERIFIER_UNAVAILABLE] = "verifier_unavailable",
	[HS_TIMEOUT] = "timeout",
	[HS_BUSY] = "busy",
	[HS_RATE_LIMITED] = "rate_limited",
	[HS_CONNECT_FAILED] = "connect_failed",
	[HS_SUPERSEDED] = "superseded",
};

const char *hs_reason_name(enum hs_reason r)
{
	if ((unsigned)r >= HS_REASON_COUNT)
		return "unknown";
	return reason_names[r];
}
